"""From the gateway's webhook to the hold in dunning: how long may a reminder still go out?

Run after ``make demo`` (it uses the demo's running services, its community and the sandbox's
gateway keys):

    uv run python bench/dunning/bench_webhook_hold.py --payments 200 --concurrency 8

For each open case that is not yet held, one owner pays what the case shows as outstanding:
``POST /orders`` (payments), then a properly signed WeChat Pay API v3 notification to
``POST /webhooks/wechatpay``. The clock starts just before the webhook is sent and stops when
``GET /cases/{id}`` shows the case held (``on_hold``) or already closed, polled every 20 ms.
The path measured is the whole production one: payments verifies and records the payment,
its outbox relay publishes ``payments.payment-received``, dunning consumes it and sets the
hold (``on_hold``, or a new ``hold_payment_id`` when billing's settlement has already lifted
it again). ``--concurrency`` owners pay at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: demo

from demo.api import PORTS, Api, Tokens
from demo.world import ROOT
from sandbox import Sandbox


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one(api: Api, sandbox: Sandbox, case: dict[str, Any], community_id: str) -> float:
    now = datetime.now(UTC)
    order = await api.post(
        "payments",
        "/orders",
        json={
            "unit_id": case["unit_id"],
            "channel": "wechat_pay",
            "community_id": community_id,
            "amount_fen": int(case["outstanding_fen"]),
            "payer_party_id": case["payer_party_id"],
            "at": now.isoformat(),
        },
    )
    body, headers = sandbox.wechatpay_notification(
        order["out_trade_no"], int(order["amount_fen"]), now, f"4200{time.time_ns()}"[:28]
    )
    started = time.perf_counter()
    await api.post(
        "payments", "/webhooks/wechatpay", actor=None, content=body, headers=headers,
        ok=(200, 204),
    )  # fmt: skip
    while True:
        state = await api.get("dunning", f"/cases/{case['case_id']}", actor="housekeeper")
        # Held now, or held and already lifted by billing's settlement (a new hold payment).
        held = state["on_hold"] or state["hold_payment_id"] != case["hold_payment_id"]
        if held or state["status"] != "open":
            return time.perf_counter() - started
        if time.perf_counter() - started > 30:
            raise TimeoutError(f"case {case['case_id']} not held after 30 s")
        await asyncio.sleep(0.02)


def service_urls(text: str) -> dict[str, str]:
    """``billing=http://...,payments=...``: the services' base URLs (default: the demo's)."""
    urls = {s: f"http://127.0.0.1:{p}" for s, p in PORTS.items()}
    for pair in filter(None, text.split(",")):
        name, _, url = pair.partition("=")
        urls[name.strip()] = url.strip()
    return urls


async def main(args: argparse.Namespace) -> None:
    community_id = args.community
    if not community_id:
        report = json.loads(Path(args.report).read_text())
        community_id = report["meta"]["community_id"]
    sandbox = Sandbox.load_or_create(Path(args.sandbox))
    # Payments asks the sandbox gateway to prepay each order: the ports its env points at.
    sandbox.start(args.sandbox_port, args.smtp_port)
    tokens = Tokens(args.company, Path(args.auth_dir))  # the issuer the services trust
    api = Api(service_urls(args.urls), tokens, 64)
    try:
        cases = await api.get_all(
            "dunning", "/cases", actor="housekeeper",
            params={"community_id": community_id, "status": "open"},
        )  # fmt: skip
        todo = [c for c in cases if not c["on_hold"] and int(c["outstanding_fen"]) > 0]
        todo = todo[: args.payments]
        if not todo:
            raise SystemExit("no open case left to pay: run `make demo` again")
        gate = asyncio.Semaphore(args.concurrency)

        async def paced(case: dict[str, Any]) -> float:
            async with gate:
                return await one(api, sandbox, case, community_id)

        t0 = time.perf_counter()
        seconds = await asyncio.gather(*(paced(c) for c in todo))
        wall = time.perf_counter() - t0
    finally:
        await api.close()
        sandbox.stop()
    ms = [s * 1000 for s in seconds]
    print(
        f"{len(ms)} payments, concurrency {args.concurrency}, {wall:.1f} s: webhook → hold "
        f"p50 {statistics.median(ms):.0f} ms, p95 {percentile(ms, 0.95):.0f} ms, "
        f"p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms"
    )
    out = Path(args.json) if args.json else None
    if out:
        out.write_text(json.dumps({"ms": ms, "wall_s": wall}, indent=1))
    figures = {
        "payments": len(ms),
        "concurrency": args.concurrency,
        "wall_s": round(wall, 3),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
    }
    # The result contract of `make bench` (bench/suite.py): the last stdout line.
    print("BENCH " + json.dumps({"name": "webhook_hold", "figures": figures}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", default="")
    # Where the demo's services, data and keys are (defaults: `make demo`'s); the smoke test
    # points these at the services it started.
    parser.add_argument("--report", default=str(ROOT / "demo-report" / "report.json"))
    parser.add_argument("--community", default="", help="instead of the report's community")
    parser.add_argument("--company", default="co-demo")
    parser.add_argument("--urls", default="", help="billing=URL,payments=URL,dunning=URL,...")
    parser.add_argument("--sandbox", default=str(ROOT / ".local" / "demo" / "sandbox"))
    parser.add_argument("--sandbox-port", type=int, default=8190)
    parser.add_argument("--smtp-port", type=int, default=8125)
    parser.add_argument("--auth-dir", default=str(ROOT / ".local" / "auth"))
    asyncio.run(main(parser.parse_args()))
