"""Every benchmark of ``make bench`` runs at its smoke size, so none can rot.

One home: the registry (``bench.suite.REGISTRY``). Each entry's smoke command is run as the
suite runs it (``bench.suite.run_bench``: ``python bench/<service>/<script>.py`` as a subprocess
from the repository root, with a timeout and SIGINT first so the script drops its database and
topics) against the real local Kafka and PostgreSQL, and must exit 0 and end its stdout with
``BENCH {json}`` of its name; the assertions then read its result lines and figures (the counts
reported equal the sizes asked for, every check the script makes passed). The figures
themselves are not asserted: a timed test is not a benchmark (bench/README.md). A script the
registry lists that does not exist fails here too.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import ceilings as ceiling_mod
from bench.results import parse_bench_line
from bench.suite import REGISTRY, Bench, Outcome, by_name, run_bench, run_script
from tests.support.fixtures import Infra

pytestmark = [pytest.mark.integration, pytest.mark.long]


def run(infra: Infra, bench: Bench, *extra: str) -> Outcome:
    outcome = run_bench(
        bench, smoke=True, extra=extra, env={"KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers}
    )
    detail = f"{outcome.command}\n{outcome.stdout}\n{outcome.stderr[-3000:]}"
    assert outcome.status == "ok", f"{bench.name}: {outcome.status} {outcome.reason}\n{detail}"
    print(f"$ {outcome.command}\n{outcome.stdout}")  # shown by pytest -s or -rP
    return outcome


def number(pattern: str, text: str) -> int:
    """The integer the first match of ``pattern`` captures (thousands separators allowed)."""
    found = re.search(pattern, text)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return int(found.group(1).replace(",", ""))


# What each script's smoke run must have printed (its text and its BENCH figures).
Check = Callable[[str, dict[str, float]], None]


def billing_run(out: str, figures: dict[str, float]) -> None:
    assert number(r"prepared (\d+) units", out) == 200
    # One invoice per unit (parking on its owner's invoice), every one of them on Kafka.
    assert number(r"units billed: \d+; invoices: (\d+)", out) == 200
    assert number(r"all (\d+) InvoiceIssued events on Kafka", out) == 200
    assert re.search(r"billing peak RSS \d+ MB", out), out
    assert number(r"allocation: (\d+) payments allocated", out) == 20
    assert re.search(r"= \d+ payments/s", out), out


def billing_import(out: str, figures: dict[str, float]) -> None:
    first = re.search(
        r"first import: (\d+) rows, (\d+) errors, (\d+) units created, (\d+) arrears", out
    )
    assert first, out
    rows, errors, units, arrears = map(int, first.groups())
    assert (rows, errors, units) == (200, 0, 200)
    assert arrears > 0, "the sample ledger has opening arrears"
    again = re.search(
        r"same file again: (\d+) rows, (\d+) errors, (\d+) units created, (\d+) arr", out
    )
    assert again and tuple(map(int, again.groups())) == (200, 0, 0, 0), out
    assert figures["first_units_created"] == 200 and figures["first_arrears_invoices"] == arrears
    assert figures["again_units_created"] == 0 and figures["again_arrears_invoices"] == 0


def dunning_sweep(out: str, figures: dict[str, float]) -> None:
    assert number(r"loaded ([\d,]+) cases", out) == 2000
    first = re.search(r"first sweep: [\d.]+ s; cases ([\d,]+), escalated ([\d,]+)", out)
    assert first, out
    assert int(first.group(1).replace(",", "")) == 2000
    escalated = int(first.group(2).replace(",", ""))
    assert escalated > 0
    assert number(r"same sweep again: [\d.]+ s; cases [\d,]+, escalated ([\d,]+)", out) == 0
    assert number(r"outbox rows: ([\d,]+)", out) == escalated  # one event per escalation


def dunning_hold(out: str, figures: dict[str, float]) -> None:
    assert number(r"payments produced: ([\d,]+)", out) == 100
    assert number(r"holds recorded: ([\d,]+)", out) == 100
    assert re.search(r"latency produce -> hold \(s\): p50=[\d.]+, p95=[\d.]+, p99=[\d.]+", out)
    assert figures["payments"] == figures["holds"] == 100 and figures["p99_s"] > 0


def sms_dispatch(out: str, figures: dict[str, float]) -> None:
    assert "'sent': 200" in out.split("dispatch report:")[1].splitlines()[0], out
    assert "database: sent=200, distinct provider ids=200" in out
    assert "'throttled': 0" in out and "'bad_signatures': 0" in out
    lines = out.rstrip().splitlines()
    assert lines[-2] == "OK", out
    assert figures["count"] == 200 and figures["duplicates"] == 0, figures
    assert {"seconds", "per_second", "cap", "fraction_of_cap"} <= set(figures), figures


def demo(out: str, figures: dict[str, float]) -> None:
    """A tiny demo (the same code as ``make demo``) on the script's own services."""
    assert out.rstrip().splitlines()[-2] == "OK", out
    assert (figures["households"], figures["months"]) == (8, 1), figures
    assert figures["seconds"] > 0, figures


def wechatpay_webhooks(out: str, figures: dict[str, float]) -> None:
    sent = number(r"notifications sent (\d+)", out)
    assert sent > 0
    assert number(r"payments recorded: (\d+)", out) == sent
    assert number(r"records on Kafka: (\d+)", out) == sent
    assert number(r"records on Kafka: \d+ \((\d+) distinct ce_id\)", out) == sent
    assert re.search(r"bare GET /healthz: \d+ in", out), out
    assert re.search(r"ratio webhook/bare: \d+\.\d\d", out), out
    assert "FAILED" not in out
    assert out.count("  ok ") == 6, out
    assert all(isinstance(v, int | float) for v in figures.values()), figures
    assert figures["payments"] == figures["notifications"] == sent
    assert figures["kafka_distinct"] == sent
    assert figures["duplicates"] == figures["duplicates_2xx"] > 0
    assert figures["per_second"] > 0 and figures["ceiling_per_second"] > 0
    assert {"p99_ms", "ratio", "service_cpu_ms_per_notification"} <= figures.keys()


def allocation(out: str, figures: dict[str, float]) -> None:
    # Two months billed, and a unit's second payment meets the first; the script itself
    # fails if a fen is missing (payments = allocations + credit for every unit, no invoice
    # overpaid, one receipt per payment).
    assert number(r"billed 2 month\(s\): (\d+) open invoices", out) == 200
    assert number(r"allocation: (\d+) payments allocated", out) == 200
    assert re.search(r"= \d+ payments/s", out), out
    assert "units off: 0; invoices overpaid: 0; receipts: 200" in out, out
    assert re.search(r"ceiling: raw aiokafka consume of the same 200 records", out), out
    assert figures["payments"] == 200
    assert figures["seconds"] > 0 and figures["per_second"] > 0


def dunning_invoice_events(out: str, figures: dict[str, float]) -> None:
    assert figures["units"] == 60, figures
    assert {k for k in figures if k.endswith("_per_s")}, figures
    assert all(figures[k] > 0 for k in figures if k.endswith("_seconds")), figures


CHECKS: dict[str, Check] = {
    "billing_run": billing_run,
    "allocation": allocation,
    "wechatpay_webhooks": wechatpay_webhooks,
    "dunning_sweep": dunning_sweep,
    "sms_dispatch": sms_dispatch,
    "demo": demo,
    "billing_import": billing_import,
    "dunning_hold": dunning_hold,
    "dunning_invoice_events": dunning_invoice_events,
}


def test_every_benchmark_has_its_checks() -> None:
    assert set(CHECKS) | {"webhook_hold"} == {b.name for b in REGISTRY}


@pytest.mark.parametrize(
    "bench", [b for b in REGISTRY if not b.needs_demo], ids=lambda b: b.name
)  # fmt: skip
def test_benchmark_smoke(infra: Infra, bench: Bench) -> None:
    outcome = run(infra, bench)
    CHECKS[bench.name](outcome.stdout, outcome.figures)


def test_ceilings_smoke(infra: Infra) -> None:
    """``python -m bench.ceilings --smoke``, as the suite runs it first: every ceiling a
    positive figure (the bare endpoint with the Python client: CI has no wrk)."""
    code, out, err, _ = run_script(
        ["python", "-m", "bench.ceilings", "--smoke", "--client", "python"],
        timeout=180,
        env={"KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers},
    )
    assert code == 0, f"{out}\n{err[-3000:]}"
    line = parse_bench_line(out)
    assert line and line["name"] == "ceilings", out
    figures = line["figures"]
    assert figures["copy_invoices"] == ceiling_mod.SMOKE["copy_rows"]
    assert figures["produce_events"] == figures["consume_events"] == ceiling_mod.SMOKE["events"]
    for key in ("copy_invoices_per_s", "update_rows_per_s", "produce_events_per_s",
                "consume_events_per_s", "event_bytes", "bare_per_s", "bare_p99_ms"):  # fmt: skip
        assert figures[key] > 0, key
    assert figures["bare_non_2xx"] == 0
    assert 600 < figures["event_bytes"] < 3000, "an InvoiceIssued CloudEvent's size"


async def test_dunning_webhook_hold(
    infra: Infra, create_database, services, test_prefix, kafka, dev_issuer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The script measures on the demo's running services: the first day of a small demo
    community (the same code as ``make demo``: its set-up, then the 1st of the month, whose
    billing run opens a case per household that has not paid yet) on this test's services,
    then the script pointed at them. One day, not the month a first version ran: a case is
    open from the invoice on, and the day takes seconds where the month took ~50 s."""
    from datetime import date

    from demo.api import Api, Tokens
    from demo.run import DemoConfig, wait_ready
    from demo.simulate import Simulation
    from demo.world import build
    from sandbox import Sandbox
    from tests.support.processes import free_port

    sandbox = Sandbox.load_or_create(tmp_path / "sandbox")
    port, smtp_port = free_port(), free_port()
    sandbox.start(port, smtp_port)
    env = {
        **sandbox.service_env(port, smtp_port),
        "NOTIFIER_DISPATCHER_ENABLED": "false",
        "DUNNING_SWEEP_INTERVAL_S": "0",
    }
    try:
        procs = {}
        for name in ("billing", "payments", "dunning", "notifier"):
            own = {
                k.split("_", 1)[1]: v for k, v in env.items() if k.startswith(name.upper() + "_")
            }
            procs[name] = services(name, await create_database(name), **own)
            procs[name].start(wait=False)
        for proc in procs.values():
            proc.wait_ready(timeout=120)
        clock = [("services ready", time.monotonic())]
        urls = {name: proc.url for name, proc in procs.items()}
        config = DemoConfig(
            seed=11, households=30, months=1, start=date(2026, 1, 1), bootstrap=kafka,
            prefix=test_prefix, urls=urls,
        )  # fmt: skip
        api = Api(urls, Tokens(config.company_id, issuer=dev_issuer))
        ledger, households = build(config.seed, config.households)
        sim = Simulation(
            api, sandbox, households, ledger, seed=config.seed, start=config.start, months=1,
            community_id=config.community_id, company_id=config.company_id,
            bootstrap=config.bootstrap, prefix=config.prefix,
        )  # fmt: skip
        try:
            await wait_ready(api)
            await sim.setup()
            clock.append(("demo set-up", time.monotonic()))
            await sim.feed.start()
            await sim.settle.start()
            try:
                await sim.simulate_day(config.start)  # the 1st: the billing run
                await sim.settle.settle()  # every invoice reached dunning: cases open
                clock.append(("the 1st", time.monotonic()))
            finally:
                await sim.feed.stop()
                await sim.settle.stop()
        finally:
            await api.close()
    finally:
        sandbox.stop()  # the script starts it again on the same ports, as after `make demo`

    outcome = run(
        infra,
        by_name("webhook_hold"),
        *("--community", config.community_id),
        *("--company", config.company_id, "--auth-dir", str(dev_issuer.jwks_path.parent)),
        *("--urls", ",".join(f"{k}={v}" for k, v in urls.items())),
        *("--sandbox", str(tmp_path / "sandbox"), "--sandbox-port", str(port)),
        *("--smtp-port", str(smtp_port)),
    )
    clock.append(("the script", time.monotonic()))
    print(", ".join(f"{b[0]} {b[1] - a[1]:.1f} s" for a, b in itertools.pairwise(clock)))
    out = outcome.stdout
    paid = number(r"(\d+) payments, concurrency 2, [\d.]+ s: webhook → hold", out)
    assert 1 <= paid <= 5
    assert re.search(r"p50 \d+ ms, p95 \d+ ms, p99 \d+ ms, max \d+ ms", out), out
    assert outcome.figures["payments"] == paid and outcome.figures["p99_ms"] > 0
