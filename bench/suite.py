"""Every benchmark in one registry, run beside the same-run ceilings (``make bench``).

    uv run python -m bench                    # full sizes: bench/results.md and results.json
    uv run python -m bench --smoke            # smoke sizes (seconds each): .local/bench/
    uv run python -m bench --only billing_run,allocation
    uv run python -m bench --list             # the registry: commands, goals, ceilings

The ceilings run first (``bench.ceilings``), then each benchmark as a subprocess from the
repository root, exactly as its command reads, with a timeout (SIGINT first, so the script
drops its database and topics; SIGKILL 30 s later). A script's last stdout line is
``BENCH {"name": ..., "figures": {...}}``; a script that exits non-zero, times out or lacks
that line fails the run (exit status 1), as does one the registry lists that is not there.
``tests/bench/test_bench_smoke.py`` runs the same registry at smoke size.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import results
from bench.results import Compare, Goal

ROOT = Path(__file__).resolve().parents[1]
Figures = Mapping[str, float]


@dataclass(frozen=True)
class Bench:
    """One benchmark: its script, its two sizes, the issue's goal and its ceiling."""

    name: str  # the BENCH line's name
    title: str
    script: str  # relative to the repository root
    full: tuple[str, ...]
    smoke: tuple[str, ...]
    goals: tuple[Goal, ...] = ()
    compare: tuple[Compare, ...] = ()
    timeout_s: float = 1800.0
    smoke_timeout_s: float = 180.0
    #: Arguments this benchmark cannot run without and the suite cannot give (services of a
    #: running `make demo`): ``python -m bench`` runs it only with ``--with-demo``.
    needs_demo: bool = False

    def command(self, smoke: bool, extra: Sequence[str] = ()) -> list[str]:
        return ["python", self.script, *(self.smoke if smoke else self.full), *extra]


def _per(count_keys: tuple[str, ...], default: float, rate_key: str) -> results.CeilingOf:
    """count / the ceiling's rate: seconds the ceiling would take for the benchmark's count."""

    def ceiling(ceilings: Figures, figures: Figures) -> float | None:
        count = results.pick(figures, count_keys) or default
        rate = ceilings.get(rate_key)
        return count / rate if rate else None

    return ceiling


def _billing_ceiling(ceilings: Figures, figures: Figures) -> float | None:
    """Issue 22: a run's ceiling is units / COPY rate + units / produce rate (~2.9 s per
    100,000 units on the 2-core machine)."""
    units = results.pick(figures, ("units", "invoices")) or 1_000_000
    copy, produce = ceilings.get("copy_invoices_per_s"), ceilings.get("produce_events_per_s")
    return units / copy + units / produce if copy and produce else None


def _ceiling_of(key: str) -> results.CeilingOf:
    return lambda ceilings, _figures: ceilings.get(key)


SECONDS = ("seconds", "seconds_on_kafka", "wall_s", "elapsed_s")

#: Every benchmark ``make bench`` runs, in this order (the issue's table first).
REGISTRY: tuple[Bench, ...] = (
    Bench(
        name="billing_run",
        title="billing run, every InvoiceIssued on Kafka",
        script="bench/billing/bench_run.py",
        full=("--units", "1000000", "--payments", "10"),  # allocation: its own benchmark
        smoke=("--units", "200", "--payments", "20"),
        goals=(
            Goal(SECONDS, "<=", 60, "s"),
            Goal(("seconds/ceiling",), "<=", 2),
            Goal(("peak_rss_mb",), "<", 500, "MB"),
        ),
        compare=(
            Compare(SECONDS, _billing_ceiling, "units / COPY rate + units / produce rate", "s"),
        ),
        timeout_s=1800,
    ),
    Bench(
        name="allocation",
        title="allocation of PaymentReceived from Kafka",
        script="bench/billing/bench_allocate.py",
        full=("--units", "5000", "--payments", "20000"),
        smoke=("--units", "100", "--payments", "200", "--months", "2"),
        goals=(Goal(("payments_per_s", "per_s", "per_second"), ">=", 5000, "/s"),),
        compare=(
            Compare(
                ("payments_per_s", "per_s", "per_second"),
                _ceiling_of("consume_events_per_s"),
                "raw aiokafka consume rate",
                "/s",
            ),
        ),
        timeout_s=900,
    ),
    Bench(
        name="wechatpay_webhooks",
        title="signed WeChat Pay webhooks, 2 workers, exactly once",
        script="bench/payments/bench_wechatpay.py",
        full=("--workers", "2", "--duration", "20", "--connections", "32", "--notes", "80000"),
        smoke=("--client", "python", "--notes", "1500", "--duration", "1", "--connections", "4"),
        goals=(
            Goal(("per_s", "webhooks_per_s", "per_second"), ">=", 2000, "/s"),
            Goal(("p99_ms",), "<", 50, "ms"),
        ),
        compare=(
            Compare(
                ("per_s", "webhooks_per_s", "per_second"),
                _ceiling_of("bare_per_s"),
                "bare endpoint of the same stack, same client",
                "/s",
            ),
            Compare(
                ("p99_ms",), _ceiling_of("bare_p99_ms"), "bare endpoint's p99, same client", "ms"
            ),
        ),
        timeout_s=900,
    ),
    Bench(
        name="dunning_sweep",
        title="dunning sweep over open cases",
        script="bench/dunning/bench_sweep.py",
        full=("--cases", "1000000"),
        smoke=("--cases", "2000"),
        goals=(Goal(SECONDS, "<=", 20, "s"),),
        compare=(
            Compare(
                SECONDS,
                _per(("cases",), 1_000_000, "update_rows_per_s"),
                "cases / set-based UPDATE rate",
                "s",
            ),
        ),
        timeout_s=1200,
    ),
    Bench(
        name="sms_dispatch",
        title="SMS at the provider's 500/s cap, no duplicate",
        script="bench/notifier/bench_sms.py",
        full=("--count", "10000"),
        smoke=("--count", "200"),
        goals=(Goal(SECONDS, "<=", 21, "s"), Goal(("duplicates",), "==", 0)),
        compare=(
            Compare(
                SECONDS,
                lambda _c, f: (
                    (results.pick(f, ("count", "sent")) or 10_000)
                    / (results.pick(f, ("cap_per_s", "rate")) or 500)
                ),
                "count / the provider's cap (not measured: the fake's limit)",
                "s",
            ),
        ),
        timeout_s=600,
    ),
    Bench(
        name="demo",
        title="`make demo`: a year of 1,236 households",
        script="bench/demo/bench_demo.py",
        full=(),
        smoke=("--households", "8", "--months", "1"),
        goals=(Goal(SECONDS, "<=", 180, "s"),),
        timeout_s=3600,
        smoke_timeout_s=300,
    ),
    Bench(
        name="billing_import",
        title="ledger (台账) import, then the same file again",
        script="bench/billing/bench_import.py",
        full=("--rows", "5000"),
        smoke=("--rows", "200"),
        compare=(
            Compare(
                ("first_s",), _per(("rows",), 5000, "copy_invoices_per_s"), "rows / COPY rate", "s"
            ),
        ),
        timeout_s=600,
    ),
    Bench(
        name="dunning_invoice_events",
        title="dunning's handling of billing's invoice events (issued, balance changed), per household",
        script="bench/dunning/bench_invoice_events.py",
        full=("--units", "1236"),
        smoke=("--units", "60"),
        timeout_s=600,
    ),
    Bench(
        name="dunning_hold",
        title="PaymentReceived on Kafka → hold in force, 500 payments/s",
        script="bench/dunning/bench_hold.py",
        full=("--rate", "500", "--seconds", "20"),
        smoke=("--rate", "50", "--seconds", "2", "--cases", "200"),
        goals=(Goal(("p99_s",), "<", 1, "s"),),
        timeout_s=600,
    ),
    Bench(
        name="webhook_hold",
        title="HTTP webhook → hold in force, end to end on the demo's services",
        script="bench/dunning/bench_webhook_hold.py",
        full=("--payments", "100", "--concurrency", "1"),
        smoke=("--payments", "5", "--concurrency", "2"),
        timeout_s=600,
        needs_demo=True,
    ),
)


def by_name(name: str) -> Bench:
    for bench in REGISTRY:
        if bench.name == name:
            return bench
    raise KeyError(name)


# -- running ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One script's run: status ``ok``, ``failed``, ``timeout``, ``no BENCH line``,
    ``wrong BENCH name``, ``missing`` (failures), or ``skipped`` (needs ``make demo``) or
    ``not run`` (left out by ``--only``)."""

    name: str
    title: str
    command: str
    status: str
    returncode: int | None = None
    wall_s: float | None = None
    reason: str = ""
    log: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def shown(bench: Bench, smoke: bool, extra: Sequence[str] = ()) -> str:
    """The command as a person types it (results.md)."""
    return shlex.join(["uv", "run", *bench.command(smoke, extra)])


def run_script(
    command: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> tuple[int | None, str, str, float]:
    """Run ``command`` (``python`` is this interpreter) from the repository root: (exit status,
    or None on timeout, stdout, stderr, seconds). On timeout SIGINT, then SIGKILL after 30 s."""
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    code: int | None
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        code = None
    seconds = time.perf_counter() - started
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {shlex.join(command)}\n{out}\n--- stderr ---\n{err}", "utf-8")
    return code, out, err, seconds


def run_bench(
    bench: Bench,
    *,
    smoke: bool,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    timeout: float | None = None,
) -> Outcome:
    command = bench.command(smoke, extra)
    outcome = Outcome(bench.name, bench.title, shown(bench, smoke, extra), "missing")
    if not (ROOT / bench.script).is_file():
        outcome.reason = f"{bench.script} does not exist"
        return outcome
    log = log_dir / f"{bench.name}.log" if log_dir else None
    code, out, err, seconds = run_script(
        command,
        timeout=timeout or (bench.smoke_timeout_s if smoke else bench.timeout_s),
        env=env,
        log=log,
    )
    outcome.returncode, outcome.wall_s, outcome.stdout, outcome.stderr = code, seconds, out, err
    outcome.log = str(log.relative_to(ROOT)) if log and log.is_relative_to(ROOT) else str(log or "")
    line = results.parse_bench_line(out)
    if code is None:
        outcome.status, outcome.reason = "timeout", f"no result after {seconds:.0f} s"
    elif code != 0:
        outcome.status = "failed"
        outcome.reason = (err.strip().splitlines() or ["(no stderr)"])[-1][:300]
    elif line is None:
        outcome.status = "no BENCH line"
        outcome.reason = "the last stdout line is not BENCH {json}"
    elif line["name"] != bench.name:
        outcome.status, outcome.reason = "wrong BENCH name", f"{line['name']!r}"
    else:
        outcome.status = "ok"
    if line is not None:
        outcome.figures = dict(line["figures"])
    return outcome


def judged(bench: Bench, outcome: Outcome, ceilings: Figures, smoke: bool) -> dict[str, Any]:
    """The outcome beside its ceilings and goals, as results.json holds it. At smoke size the
    goals (written for full sizes) are not judged, nor anything of a script that did not run
    to its BENCH line."""
    compared = results.compare(bench.compare, outcome.figures, ceilings) if outcome.ok else []
    judging = outcome.ok and not smoke
    goals = results.judge(bench.goals, outcome.figures, compared) if judging else []
    if not outcome.ok:
        verdict = f"not judged: {outcome.status}"
    else:
        verdict = "smoke size: not judged" if smoke else results.verdict(goals)
    return {
        "name": bench.name,
        "title": bench.title,
        "command": outcome.command,
        "status": outcome.status,
        "returncode": outcome.returncode,
        "wall_s": outcome.wall_s,
        "reason": outcome.reason,
        "log": outcome.log,
        "figures": outcome.figures,
        "compared": [asdict(c) for c in compared],
        "goals": [asdict(j) for j in goals],
        "goals_wanted": [g.label() for g in bench.goals],
        "verdict": verdict,
    }


# -- the machine ------------------------------------------------------------------------------


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line
    except OSError:
        pass
    return "unknown"


def _postgres_version() -> str:
    import asyncio

    import asyncpg

    from bench.ceilings import ADMIN

    async def ask() -> str:
        conn = await asyncpg.connect(ADMIN)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return asyncio.run(ask())
    except Exception as error:  # a report line, never a reason to stop
        return f"unknown ({type(error).__name__})"


def _kafka_version() -> str:
    for line in (ROOT / "deploy/local/infra.sh").read_text().splitlines():
        if line.startswith("readonly KAFKA_VERSION="):
            return line.split("=", 1)[1] + " (deploy/local/infra.sh), single broker, KRaft"
    return "unknown"


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    memory_kb = _first("/proc/meminfo", "MemTotal")
    pretty = _first("/etc/os-release", "PRETTY_NAME=")
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory": f"{int(memory_kb.split()[0]) / 1024 / 1024:.1f} GiB"
        if memory_kb != "unknown"
        else "unknown",
        "os": f"{pretty.split('=', 1)[-1].strip(chr(34))}, {platform.system()} "
        f"{platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "postgresql": _postgres_version(),
        "kafka": _kafka_version(),
    }


# -- the run ----------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def run_suite(
    *,
    smoke: bool,
    only: Sequence[str] = (),
    with_demo: bool = False,
    out_dir: Path,
    command: str,
    connections: int = 32,
) -> tuple[dict[str, Any], int]:
    """Ceilings, then every benchmark; (the run as results.json holds it, exit status)."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    info = machine()
    info["load_before"] = loadavg()
    log_dir = out_dir / ("logs-smoke" if smoke else "logs")
    ceiling_cmd = ["python", "-m", "bench.ceilings", "--connections", str(connections)]
    # Smoke: the webhook benchmark's smoke command uses the Python client; so does its ceiling.
    ceiling_cmd += ["--smoke", "--client", "python"] if smoke else []
    say(f"ceilings: {shlex.join(ceiling_cmd)}")
    code, out, _err, secs = run_script(
        ceiling_cmd, timeout=300 if smoke else 900, log=log_dir / "ceilings.log"
    )
    line = results.parse_bench_line(out)
    ceilings: dict[str, float] = dict(line["figures"]) if line else {}
    ceiling_status = "ok" if code == 0 and line else f"failed (exit {code})"
    for text in out.splitlines()[:-1]:
        say(f"  {text}")
    entries, failures = [], []
    for bench in REGISTRY:
        if only and bench.name not in only:
            outcome = Outcome(bench.name, bench.title, shown(bench, smoke), "not run")
            outcome.reason = "not among --only"
            entries.append(judged(bench, outcome, ceilings, smoke))
            continue
        if bench.needs_demo and not with_demo:
            outcome = Outcome(bench.name, bench.title, shown(bench, smoke), "skipped")
            outcome.reason = "needs the services of a running `make demo` (--with-demo)"
        else:
            say(f"{bench.name}: {shlex.join(bench.command(smoke))}")
            outcome = run_bench(bench, smoke=smoke, log_dir=log_dir)
        entry = judged(bench, outcome, ceilings, smoke)
        entries.append(entry)
        ratios = ", ".join(f"{c['key']} {results.number(c['value'])} "
                          f"({results.ratio_text(c['ratio'])} the ceiling)"
                          for c in entry["compared"] if outcome.figures)  # fmt: skip
        say(f"  {outcome.status}{': ' + outcome.reason if outcome.reason else ''}"
            f"{'; ' + ratios if ratios else ''}; {entry['verdict']}")  # fmt: skip
        if outcome.status not in ("ok", "skipped", "not run"):
            failures.append(bench.name)
    if ceiling_status != "ok":
        failures.insert(0, "ceilings")
    info["load_after"] = loadavg()
    run = {
        "command": command,
        "mode": "smoke" if smoke else "full",
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": time.perf_counter() - t0,
        "status": "failed: " + ", ".join(failures) if failures else "ok",
        "failures": failures,
        "machine": info,
        "ceilings": {
            "command": shlex.join(["uv", "run", *ceiling_cmd]),
            "status": ceiling_status,
            "wall_s": secs,
            "figures": ceilings,
        },
        "benchmarks": entries,
        "note": "",
    }
    return run, 1 if failures else 0


def describe() -> str:
    lines = []
    for b in REGISTRY:
        lines.append(f"{b.name}: {b.title}")
        lines.append(f"  full:  uv run {shlex.join(b.command(False))}")
        lines.append(f"  smoke: uv run {shlex.join(b.command(True))}")
        for g in b.goals:
            lines.append(f"  goal:  {g.label()}")
        for c in b.compare:
            lines.append(f"  ceiling of {c.key}: {c.how}")
        if b.needs_demo:
            lines.append("  needs `make demo`'s services: run with --with-demo")
        if not (ROOT / b.script).is_file():
            lines.append("  MISSING: the script does not exist")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="smoke sizes (seconds each)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--with-demo", action="store_true",
                        help="also the benchmarks on `make demo`'s running services")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help="directory of results.md/.json (default: bench/, smoke: .local/bench/)")  # fmt: skip
    parser.add_argument("--note", default="", help="a sentence written under the machine table")
    parser.add_argument("--list", action="store_true", help="print the registry and stop")
    args = parser.parse_args(argv)
    if args.list:
        print(describe())
        return 0
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(only) - {b.name for b in REGISTRY}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    out_dir = args.out or (ROOT / ".local" / "bench" if args.smoke else ROOT / "bench")
    given = list(argv if argv is not None else sys.argv[1:])
    for at, arg in enumerate(given):  # the note is written apart, not in the command
        if arg == "--note":
            del given[at : at + 2]
            break
        if arg.startswith("--note="):
            del given[at]
            break
    command = shlex.join(["uv", "run", "python", "-m", "bench", *given])
    try:
        run, status = run_suite(
            smoke=args.smoke, only=only, with_demo=args.with_demo, out_dir=out_dir,
            command=command,
        )  # fmt: skip
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    run["note"] = args.note
    md, js = results.write(run, out_dir)
    say(f"{run['status']}: {md} and {js.name}")
    return status
