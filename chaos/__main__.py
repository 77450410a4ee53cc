"""``make chaos``: the fault suite.

    uv run python -m chaos [--plan full|reduced] [--single-broker] [--no-netns]

Starts its own PostgreSQL and 3-broker Kafka cluster under ``.local/chaos`` (never the shared
ones), the sandbox and the four services, drives the demo's community under load, injects the
plan's faults one at a time and then combined, counts after each, and writes
``chaos-report/report.md`` and ``report.json``. Exit status 1 when anything was lost,
duplicated or did not recover.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from chaos import report as reporting
from chaos.infra import ROOT
from chaos.run import Site, full_plan, reduced_plan, run_plan, say


def quiet() -> None:
    """The load's own Kafka clients complain at every broker kill: that is the point."""
    for name in ("aiokafka", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--plan", choices=["full", "reduced"], default="full")
    p.add_argument("--single-broker", action="store_true", help="one broker instead of three")
    p.add_argument("--no-netns", action="store_true", help="leave out the link cuts")
    p.add_argument("--home", type=Path, default=ROOT / ".local" / "chaos")
    p.add_argument("--report-dir", type=Path, default=ROOT / "chaos-report")
    args = p.parse_args(argv)
    os.environ.setdefault("PROPFEE_ENVIRONMENT", "development")
    quiet()
    make = full_plan if args.plan == "full" else reduced_plan
    plan = make(cluster=not args.single_broker, netns=not args.no_netns)
    # SIGTERM as Ctrl-C: the run's finally blocks stop what it started (services, the
    # sandbox, the namespaces, its Kafka and PostgreSQL).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = asyncio.run(run_plan(plan, Site(args.home)))
    path = reporting.write(result, args.report_dir)
    print(reporting.markdown(result).split("## Checks")[0])
    say(f"report: {path} ({result['duration_s']:.0f} s)")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
