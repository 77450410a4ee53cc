"""Benchmark: the demo (``python -m demo``'s simulation) timed on its own services.

Everything is this script's own, so it runs beside a development stack and never touches
``make demo``'s services, ports, databases or topics: fresh databases and a random topic
prefix on the local Kafka and PostgreSQL, the four services started as processes on free
ports (the same ``python -m <service>`` as the tests), the sandbox on free ports, a
development token issuer in a temporary directory. Then the same code as ``make demo``
(``demo.run.run_year`` and ``collect``): the simulated year and the report's figures, whose
invariants must hold. Not a test; run from the repository root:

    uv run python bench/demo/bench_demo.py [--households 1236] [--months 12] [--seed 7]

It prints the phases (service start, the year, the figures read back), the demo's own
timings by phase and its waits by whose consumers were behind, then ``OK`` when every
invariant held and, last, ``BENCH {json}``. ``make demo`` adds to the year and the figures
only the infrastructure start (``deploy/local/infra.sh up``, not timed here) and the
services' start (``services`` below).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import asyncpg
import uvloop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# A developer's machine, as in the tests (conftest.py): the services' built-in secrets.
os.environ.setdefault("PROPFEE_ENVIRONMENT", "development")

from demo.api import Api, Tokens  # noqa: E402
from demo.run import DemoConfig, collect, run_year, wait_ready  # noqa: E402
from propfee.auth.dev import DevIssuer  # noqa: E402
from propfee.kafka import delete_topics, ensure_topics  # noqa: E402
from propfee.logging import configure_logging  # noqa: E402
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER  # noqa: E402
from propfee.topics import all_topics  # noqa: E402
from sandbox import Sandbox  # noqa: E402
from tests.support.auth import auth_env  # noqa: E402
from tests.support.processes import ServiceProcess, free_port  # noqa: E402

SERVICES = ("billing", "payments", "dunning", "notifier")


async def main(args: argparse.Namespace) -> int:
    configure_logging("bench-demo", level="WARNING")  # the script speaks for itself
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    run = f"bdemo{secrets.token_hex(3)}"
    prefix = f"{run}."
    admin = await asyncpg.connect(f"{LOCAL_PG_OWNER}/postgres")
    tmp = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    issuer = DevIssuer.load_or_create(tmp / "auth")
    sandbox = Sandbox.load_or_create(tmp / "sandbox")
    port, smtp_port = free_port(), free_port()
    procs: list[ServiceProcess] = []
    databases: list[str] = []
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    ok = False
    try:
        for name in SERVICES:
            databases.append(f"{run}_{name}")
            await admin.execute(f'CREATE DATABASE "{databases[-1]}"')
        await ensure_topics(bootstrap, prefix=prefix)
        sandbox.start(port, smtp_port)
        env = {
            **sandbox.service_env(port, smtp_port),
            # The simulator drives time through the as-of APIs (as `make demo` sets them).
            "NOTIFIER_DISPATCHER_ENABLED": "false",
            "DUNNING_SWEEP_INTERVAL_S": "0",
            "NOTIFIER_REMINDER_CAP": "6",
            "NOTIFIER_WECHAT_RATE_PER_S": "5000",
            "NOTIFIER_PUSH_RATE_PER_S": "5000",
            "NOTIFIER_ALIBABA_RATE_PER_S": "5000",
            **{
                f"PAYMENTS_{gateway}_COMPANY_ID": DemoConfig.company_id
                for gateway in ("WECHATPAY", "ALIPAY", "UNIONPAY")
            },
        }
        for name, db in zip(SERVICES, databases, strict=True):
            own = {
                k.split("_", 1)[1]: v for k, v in env.items() if k.startswith(name.upper() + "_")
            }
            proc = ServiceProcess(
                name,
                database_url=f"{LOCAL_PG}/{db}",
                bootstrap_servers=bootstrap,
                topic_prefix=prefix,
                log_dir=tmp,
                extra_env=own,
                env=auth_env(issuer),
            )
            procs.append(proc)
            proc.start(wait=False)
        for proc in procs:
            proc.wait_ready(timeout=180)
        started = time.perf_counter() - t0
        print(f"services started: {started:.1f} s (databases, topics, sandbox, 4 services)")
        urls = {p.name: p.url for p in procs}
        config = DemoConfig(
            seed=args.seed,
            households=args.households,
            months=args.months,
            start=date(2026, 1, 1),
            bootstrap=bootstrap,
            prefix=prefix,
            urls=urls,
        )
        api = Api(urls, Tokens(config.company_id, issuer=issuer), concurrency=config.concurrency)
        try:
            await wait_ready(api)
            t1 = time.perf_counter()
            sim, setup = await run_year(config, api, sandbox)
            year = time.perf_counter() - t1
            t2 = time.perf_counter()
            report = await collect(config, sim, setup)
            figures = time.perf_counter() - t2
            # Handler retries (each waits its backoff) and the handlers' time, by service.
            retries: dict[str, float] = {}
            handled: dict[str, float] = {}
            by_topic: dict[str, float] = {}
            counts: dict[str, float] = {}
            cpu = {p.name: _tree_cpu_s(p.process.pid) for p in procs if p.process is not None}
            cpu["simulator (this process)"] = time.process_time()
            for name in SERVICES:
                text = await api.metrics(name)
                retries[name] = _sum(text, "propfee_handler_retries_total")
                handled[name] = round(_sum(text, "propfee_handler_seconds_sum"), 1)
                for line in text.splitlines():
                    if line.startswith("propfee_handler_seconds_sum{"):
                        labels, value = line.rsplit(" ", 1)
                        topic = labels.split('topic="', 1)[1].split('"', 1)[0]
                        by_topic[f"{name} {topic.removeprefix(prefix)}"] = float(value)
                    elif line.startswith("propfee_handler_seconds_count{"):
                        labels, value = line.rsplit(" ", 1)
                        topic = labels.split('topic="', 1)[1].split('"', 1)[0]
                        counts[f"{name} {topic.removeprefix(prefix)}"] = float(value)
        finally:
            await api.close()
        total = time.perf_counter() - t0
        load_after = os.getloadavg()
        print(
            f"demo: {args.households} households, {args.months} months, seed {args.seed}; "
            f"{api.requests} requests"
        )
        print(f"the year: {year:.1f} s; figures read back: {figures:.1f} s")
        print(f"total (services started, the year, the figures): {total:.1f} s")
        print(f"demo timings (s): {report['timings_s']}")
        print(f"waiting, by who was behind (s): {report['waiting_behind_s']}")
        print(f"settles: {sim.settle.waits}, {sim.settle.waited_s:.1f} s")
        print(f"handler retries by service: {retries}; handler seconds: {handled}")
        top = sorted(by_topic.items(), key=lambda kv: -kv[1])[:8]
        print(
            "handler seconds, most first (events, mean ms): "
            + ", ".join(
                f"{k} {v:.1f} ({counts.get(k, 0):.0f}, {1000 * v / max(counts.get(k, 0), 1):.1f})"
                for k, v in top
            )
        )
        print(f"CPU seconds by process tree: { {k: round(v, 1) for k, v in cpu.items()} }")
        if args.report_json:
            args.report_json.write_text(json.dumps(report, ensure_ascii=False, default=str))
        print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
        failed = [i["name"] for i in report["invariants"] if not i["ok"]]
        for name in failed:
            print(f"invariant FAILED: {name}")
        ok = not failed and setup["units"] == args.households
        print("OK" if ok else "FAILED")
        bench = {
            "name": "demo",
            "figures": {
                "seconds": round(total, 2),
                "year_seconds": round(year, 2),
                "figures_seconds": round(figures, 2),
                "start_seconds": round(started, 2),
                "households": args.households,
                "months": args.months,
                "requests": api.requests,
                "load_average": round(load_after[0], 2),
            },
        }
        print("BENCH " + json.dumps(bench))
    finally:
        for proc in procs:
            proc.stop()
        sandbox.stop()
        for db in databases:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        try:
            await delete_topics(bootstrap, [prefix + t.name for t in all_topics()])
        except Exception:
            pass
    return 0 if ok else 1


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu s)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def _sum(metrics: str, name: str) -> float:
    """The sum of every series of ``name`` in a Prometheus text exposition."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=1236)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--report-json", type=Path, help="write the demo's report here")
    sys.exit(uvloop.run(main(parser.parse_args())))
