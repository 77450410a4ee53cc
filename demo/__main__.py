"""``make demo``: a year of a community like seed 002 through all four services.

    uv run python -m demo [--seed 7] [--households 1236] [--months 12] [--start 2026-01]

It expects the local Kafka and PostgreSQL of ``make up`` (``make demo`` starts them), then:
starts the sandbox (the outside world: payment gateways, SMS, WeChat, app push, SMTP, with
freshly generated keys), gives the demo its own empty databases (``*_demo``) and topics
(prefix ``demo.``), (re)starts the four services pointed at them with the simulation clock
(no wall-clock sweeps or dispatch: the simulator drives time through the as-of APIs), runs
the year, and writes the report. The services keep running afterwards; ``make down`` stops
them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from demo.api import PORTS, Api, Tokens
from demo.run import DemoConfig, collect, run_year, wait_ready
from demo.world import ROOT
from propfee.kafka import delete_topics, ensure_topics
from propfee.logging import configure_logging
from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER, migration_url_for
from propfee.topics import all_topics

PREFIX = "demo."
SANDBOX_PORT = int(os.environ.get("PROPFEE_SANDBOX_PORT", "8190"))
SMTP_PORT = int(os.environ.get("PROPFEE_SANDBOX_SMTP_PORT", "8125"))
HOME = Path(os.environ.get("PROPFEE_HOME", ROOT / ".local"))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=7, help="same seed, same numbers (default 7)")
    p.add_argument("--households", type=int, default=1236, help="default 1236 (seed 002)")
    p.add_argument("--months", type=int, default=12, help="default 12")
    p.add_argument("--start", default="2026-01", help="first simulated month (default 2026-01)")
    p.add_argument("--report-dir", type=Path, default=ROOT / "demo-report")
    args = p.parse_args(argv)
    if not 1 <= args.households <= 1236:
        p.error("--households must be between 1 and 1236 (the sample ledger's size)")
    if not 1 <= args.months <= 36:
        p.error("--months must be between 1 and 36")
    try:
        year, month = (int(x) for x in args.start.split("-"))
        args.start = date(year, month, 1)
    except ValueError:
        p.error("--start must look like 2026-01")
    return args


_T0 = time.monotonic()


def say(text: str) -> None:
    """A line of progress, with the seconds since the demo started."""
    print(f"demo: [{time.monotonic() - _T0:4.0f} s] {text}", flush=True)


async def fresh_databases(bootstrap: str) -> dict[str, str]:
    """Empty ``<service>_demo`` databases and ``demo.`` topics: every run starts clean.

    The local owner role creates and owns the databases (the services migrate as it); the
    URLs returned are the runtime role's. ``PROPFEE_ADMIN_DATABASE_URL``: one role does both."""
    admin = os.environ.get("PROPFEE_ADMIN_DATABASE_URL")
    base = admin.rsplit("/", 1)[0] if admin else LOCAL_PG
    conn = await asyncpg.connect(admin or f"{LOCAL_PG_OWNER}/postgres")
    urls = {}
    try:
        for service in PORTS:
            name = f"{service}_demo"
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
            urls[service] = f"{base}/{name}"
    finally:
        await conn.close()
    await delete_topics(bootstrap, [PREFIX + t.name for t in all_topics()])
    for attempt in range(30):
        try:
            await ensure_topics(bootstrap, prefix=PREFIX)
            break
        except Exception:  # deletion is asynchronous in the broker
            if attempt == 29:
                raise
            await asyncio.sleep(1)
    return urls


def restart_services(env: dict[str, str]) -> None:
    script = ROOT / "deploy" / "local" / "services.sh"
    subprocess.run(["bash", str(script), "down"], check=True)
    subprocess.run(["bash", str(script), "up"], check=True, env={**os.environ, **env})


def service_env(db_urls: dict[str, str], sandbox_env: dict[str, str], bootstrap: str) -> dict:
    env = {f"{s.upper()}_DATABASE_URL": url for s, url in db_urls.items()}
    env |= {f"{s.upper()}_MIGRATION_DATABASE_URL": migration_url_for(u) for s, u in db_urls.items()}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PROPFEE_TOPIC_PREFIX": PREFIX,
        # The simulator drives time through the as-of APIs; no wall-clock loops meanwhile.
        "NOTIFIER_DISPATCHER_ENABLED": "false",
        "DUNNING_SWEEP_INTERVAL_S": "0",
        "NOTIFIER_REMINDER_CAP": "6",
        # Providers' rate limits are per real second; a simulated day lasts a fraction of
        # one, and the sandbox's providers set no limit. The buckets themselves are tested
        # in services/notifier/tests/unit/test_token_bucket.py.
        "NOTIFIER_WECHAT_RATE_PER_S": "5000",
        "NOTIFIER_PUSH_RATE_PER_S": "5000",
        "NOTIFIER_ALIBABA_RATE_PER_S": "5000",
        # The sandbox's merchant accounts are the demo company's (its gateway-level records).
        **{
            f"PAYMENTS_{gateway}_COMPANY_ID": DemoConfig.company_id
            for gateway in ("WECHATPAY", "ALIPAY", "UNIONPAY")
        },
    }
    return env | sandbox_env


class MonthBars:
    """A progress bar per simulated month (rich), or plain lines without a terminal."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress = Progress(
            "[bold]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            "days",
            TimeElapsedColumn(),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.live = sys.stdout.isatty()
        self.t0 = time.monotonic()

    def __enter__(self) -> MonthBars:
        if self.live:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.__exit__(None, None, None)

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.live:  # a log file, CI: one line per month
            if done == total:
                say(f"{label} simulated ({time.monotonic() - self.t0:.0f} s)")
            return
        task = self.tasks.get(label)
        if task is None:
            task = self.tasks[label] = self.progress.add_task(label, total=total)
        self.progress.update(task, completed=done)


async def main(args: argparse.Namespace) -> int:
    from demo.report import render_terminal, write_html
    from sandbox import SandboxProcess

    configure_logging("demo", level="WARNING")  # the demo speaks for itself
    started = time.monotonic()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    sandbox = SandboxProcess(HOME / "demo" / "sandbox")
    sandbox.start(SANDBOX_PORT, SMTP_PORT)
    say(f"sandbox (gateways, SMS, WeChat, app push, SMTP) on http://127.0.0.1:{SANDBOX_PORT}")
    say("fresh databases *_demo and topics demo.* ...")
    db_urls = await fresh_databases(bootstrap)
    say("starting the four services on them ...")
    restart_services(service_env(db_urls, sandbox.service_env(SANDBOX_PORT, SMTP_PORT), bootstrap))
    urls = {s: f"http://127.0.0.1:{p}" for s, p in PORTS.items()}
    config = DemoConfig(
        seed=args.seed,
        households=args.households,
        months=args.months,
        start=args.start,
        bootstrap=bootstrap,
        prefix=PREFIX,
        urls=urls,
    )
    api = Api(urls, Tokens(config.company_id), concurrency=config.concurrency)
    try:
        await wait_ready(api)
        say(
            f"{args.households} households, {args.months} months from "
            f"{args.start:%Y-%m}, seed {args.seed}"
        )
        with MonthBars() as bars:
            sim, setup = await run_year(config, api, sandbox, progress=bars)
        say("reading the figures back from the services ...")
        report = await collect(config, sim, setup)
    finally:
        await api.close()
        sandbox.stop()
    report["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    report["meta"]["command"] = (
        f'make demo ARGS="--seed {args.seed} --households {args.households} '
        f'--months {args.months} --start {args.start:%Y-%m}"'
    )
    report["urls"] = {f"{s} API docs": f"{u}/docs" for s, u in urls.items()}
    # deploy/local/services.sh starts the console beside the services (web/console).
    console = f"http://127.0.0.1:{os.environ.get('CONSOLE_HTTP_PORT', '8100')}"
    report["urls"]["staff console"] = console
    report["next_steps"] = [
        "make down    # stop the services, Kafka and PostgreSQL",
        "make test    # the test suite",
        f"curl -s {urls['dunning']}/cases?community_id={config.community_id}  "
        "# needs a token: uv run python -m propfee.auth mint --role auditor ...",
    ]
    html = write_html(report, args.report_dir)
    print(render_terminal(report))
    say(f"report: {html}")
    say(
        f"staff console: {console}  (development sign-in: role 收费员, company "
        f"{config.company_id}, community {config.community_id})"
    )
    say("the services keep running (sandbox stopped: nothing more is sent); `make down` stops all")
    (args.report_dir / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str)
    )
    return 0 if all(i["ok"] for i in report["invariants"]) else 1


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse(None))))
