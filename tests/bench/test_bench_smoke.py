"""Every benchmark script under bench/ runs at a smoke size, so none can rot.

Each script is run as it is run by hand (``python bench/<service>/<script>.py``, a subprocess
from the repository root) against the real local Kafka and PostgreSQL, with a timeout, and must
exit 0 and print its result lines; the assertions read those lines (the counts reported equal
the sizes asked for, every check the script makes passed). The figures themselves are not
asserted: a timed test is not a benchmark (bench/README.md, "Smoke runs in CI"). Each script
creates its own database and topic prefix (random names) and removes them, so runs never meet.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import Infra

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_bench(infra: Infra, script: str, *args: str, timeout: float = 120.0) -> str:
    """Run ``bench/<script>`` with ``args``; its stdout when it exits 0, a failure otherwise.
    On timeout the script gets SIGINT first, so that its ``finally`` drops its database and
    topics, then SIGKILL."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(
            f"{script} {' '.join(args)}: no result after {timeout:.0f}s\n{out}\n{err[-3000:]}"
        )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{out}\n{err[-3000:]}"
    print(f"$ {script} {' '.join(args)}\n{out}")  # shown by pytest -s or -rP
    return out


def bench_line(out: str) -> dict:  # type: ignore[type-arg]
    """The ``BENCH {json}`` last line every script prints (what ``make bench`` collects)."""
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("BENCH "), out
    found: dict = json.loads(last.removeprefix("BENCH "))  # type: ignore[type-arg]
    assert all(isinstance(v, int | float) for v in found["figures"].values()), found
    return found


def number(pattern: str, text: str) -> int:
    """The integer the first match of ``pattern`` captures (thousands separators allowed)."""
    found = re.search(pattern, text)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return int(found.group(1).replace(",", ""))


def test_billing_run(infra: Infra) -> None:
    out = run_bench(infra, "billing/bench_run.py", "--units", "200", "--payments", "20")
    assert number(r"prepared (\d+) units", out) == 200
    # One invoice per unit (parking on its owner's invoice), every one of them on Kafka.
    assert number(r"units billed: \d+; invoices: (\d+)", out) == 200
    assert number(r"all (\d+) InvoiceIssued events on Kafka", out) == 200
    assert re.search(r"billing peak RSS \d+ MB", out), out
    assert number(r"allocation: (\d+) payments allocated", out) == 20
    assert re.search(r"= \d+ payments/s", out), out


def test_billing_import(infra: Infra) -> None:
    out = run_bench(infra, "billing/bench_import.py", "--rows", "200")
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


def test_dunning_sweep(infra: Infra) -> None:
    out = run_bench(infra, "dunning/bench_sweep.py", "--cases", "2000")
    assert number(r"loaded ([\d,]+) cases", out) == 2000
    first = re.search(r"first sweep: [\d.]+ s; cases ([\d,]+), escalated ([\d,]+)", out)
    assert first, out
    assert int(first.group(1).replace(",", "")) == 2000
    escalated = int(first.group(2).replace(",", ""))
    assert escalated > 0
    assert number(r"same sweep again: [\d.]+ s; cases [\d,]+, escalated ([\d,]+)", out) == 0
    assert number(r"outbox rows: ([\d,]+)", out) == escalated  # one event per escalation


def test_dunning_hold(infra: Infra) -> None:
    out = run_bench(
        infra, "dunning/bench_hold.py", "--rate", "50", "--seconds", "2", "--cases", "200"
    )
    assert number(r"payments produced: ([\d,]+)", out) == 100
    assert number(r"holds recorded: ([\d,]+)", out) == 100
    assert re.search(r"latency produce -> hold \(s\): p50=[\d.]+, p95=[\d.]+, p99=[\d.]+", out)


def test_notifier_sms(infra: Infra) -> None:
    out = run_bench(infra, "notifier/bench_sms.py", "--count", "200")
    assert "'sent': 200" in out.split("dispatch report:")[1].splitlines()[0], out
    assert "database: sent=200, distinct provider ids=200" in out
    assert "'throttled': 0" in out and "'bad_signatures': 0" in out
    lines = out.rstrip().splitlines()
    assert lines[-2] == "OK", out
    bench = bench_line(out)
    assert bench["name"] == "sms_dispatch", bench
    assert bench["figures"]["count"] == 200 and bench["figures"]["duplicates"] == 0, bench
    assert {"seconds", "per_second", "cap", "fraction_of_cap"} <= set(bench["figures"]), bench


def test_demo(infra: Infra) -> None:
    """A tiny demo (the same code as ``make demo``) on the script's own services."""
    out = run_bench(infra, "demo/bench_demo.py", "--households", "8", "--months", "1", timeout=240)
    assert out.rstrip().splitlines()[-2] == "OK", out
    bench = bench_line(out)
    assert bench["name"] == "demo", bench
    figures = bench["figures"]
    assert (figures["households"], figures["months"]) == (8, 1), figures
    assert figures["seconds"] > 0, figures


def test_payments_wechatpay(infra: Infra) -> None:
    # wrk may be absent (CI installs nothing for it): the script's pure-Python client.
    out = run_bench(
        infra,
        "payments/bench_wechatpay.py",
        *("--client", "python", "--notes", "1500", "--duration", "1", "--connections", "4"),
    )
    sent = number(r"notifications sent (\d+)", out)
    assert sent > 0
    assert number(r"payments recorded: (\d+)", out) == sent
    assert number(r"records on Kafka: (\d+)", out) == sent
    assert number(r"records on Kafka: \d+ \((\d+) distinct ce_id\)", out) == sent
    assert re.search(r"bare GET /healthz: \d+ in", out), out
    assert re.search(r"ratio webhook/bare: \d+\.\d\d", out), out
    assert "FAILED" not in out
    assert out.count("  ok ") == 6, out


async def test_dunning_webhook_hold(
    infra: Infra, create_database, services, test_prefix, kafka, dev_issuer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The script measures on the demo's running services: a month of a small demo community
    (the same code as ``make demo``) on this test's services, then the script pointed at them."""
    from datetime import date

    from demo.api import Api, Tokens
    from demo.run import DemoConfig, run_year, wait_ready
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
        urls = {name: proc.url for name, proc in procs.items()}
        config = DemoConfig(
            seed=11, households=30, months=1, start=date(2026, 1, 1), bootstrap=kafka,
            prefix=test_prefix, urls=urls,
        )  # fmt: skip
        api = Api(urls, Tokens(config.company_id, issuer=dev_issuer))
        try:
            await wait_ready(api)
            await run_year(config, api, sandbox)
        finally:
            await api.close()
    finally:
        sandbox.stop()  # the script starts it again on the same ports, as after `make demo`

    out = run_bench(
        infra,
        "dunning/bench_webhook_hold.py",
        *("--payments", "5", "--concurrency", "2", "--community", config.community_id),
        *("--company", config.company_id, "--auth-dir", str(dev_issuer.jwks_path.parent)),
        *("--urls", ",".join(f"{k}={v}" for k, v in urls.items())),
        *("--sandbox", str(tmp_path / "sandbox"), "--sandbox-port", str(port)),
        *("--smtp-port", str(smtp_port)),
    )
    paid = number(r"(\d+) payments, concurrency 2, [\d.]+ s: webhook → hold", out)
    assert 1 <= paid <= 5
    assert re.search(r"p50 \d+ ms, p95 \d+ ms, p99 \d+ ms, max \d+ ms", out), out
