"""Scheduled work for Propfee's CronJobs: call a service's as-of operation over HTTP.

    python schedule.py billing-runs-due --base-url http://billing:8101
    python schedule.py billing-run --base-url http://billing:8101 --community C --cycle monthly
    python schedule.py dunning-sweep --base-url http://dunning:8103
    python schedule.py late-fees --base-url http://billing:8101 [--community C]
    python schedule.py expire-orders --base-url http://payments:8102
    python schedule.py reconciliation --base-url http://payments:8102 --gateway wechatpay \
        --statement-url 'https://statements.internal/{gateway}/{date}.csv'

``billing-runs-due`` starts every community's run of the current period once it is due by the
community's schedule (stored in billing: ``PUT /communities/{id}/billing-schedule``) and exits 1
when billing refused one (the Job fails and is seen). ``late-fees`` without ``--community``
assesses every community of the token's scope in one call. ``billing-run`` (one community, one
cycle) is kept for a run by hand.

Dates are taken in TZ_NAME (default Asia/Shanghai). Every call is idempotent on the service's
side (the same run, sweep, assessment, expiry or statement again changes nothing), so a
retried Job is safe.
Every call carries ``PROPFEE_SERVICE_TOKEN`` (a service-role token) as a bearer token.
Standard library only: it runs in any service image.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def now() -> datetime:
    return datetime.now(ZoneInfo(os.environ.get("TZ_NAME", "Asia/Shanghai")))


def post(url: str, body: bytes, content_type: str, timeout: float) -> bytes:
    headers = {"Content-Type": content_type}
    token = os.environ.get("PROPFEE_SERVICE_TOKEN", "").strip()
    if token:  # a service-role bearer token from the identity provider (mounted Secret)
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: bytes = response.read()
        print(f"POST {url}: {response.status} {answer[:2000].decode(errors='replace')}")
    return answer


def period_start(today: date, cycle: str) -> date:
    months = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}[cycle]
    month = (today.month - 1) // months * months + 1
    return today.replace(month=month, day=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "operation",
        choices=[
            "billing-runs-due",
            "billing-run",
            "dunning-sweep",
            "late-fees",
            "expire-orders",
            "reconciliation",
        ],
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--community")
    parser.add_argument("--cycle", default="monthly")
    parser.add_argument("--gateway")
    parser.add_argument("--statement-url")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    current = now()
    base = args.base_url.rstrip("/")
    if args.operation == "billing-runs-due":  # every community's run that is due and absent
        body = {"as_of": current.date().isoformat()}
        answer = post(
            f"{base}/billing-runs/due", json.dumps(body).encode(), "application/json", args.timeout
        )
        failed = json.loads(answer or b"{}").get("failed") or []
        for refused in failed:
            print(f"run refused: {refused}", file=sys.stderr)
        return 1 if failed else 0
    if args.operation == "billing-run":
        body = {
            "period_start": period_start(current.date(), args.cycle).isoformat(),
            "cycle": args.cycle,
            "as_of": current.date().isoformat(),
        }
        url = f"{base}/communities/{args.community}/billing-runs"
        post(url, json.dumps(body).encode(), "application/json", args.timeout)
    elif args.operation == "dunning-sweep":
        body = {"as_of": current.isoformat()}
        post(f"{base}/sweeps", json.dumps(body).encode(), "application/json", args.timeout)
    elif args.operation == "late-fees":  # late fees accrued up to today
        body = {"as_of": current.date().isoformat()}
        url = (
            f"{base}/communities/{args.community}/late-fee-assessments"
            if args.community
            else f"{base}/late-fee-assessments"  # every community of the token's scope
        )
        post(url, json.dumps(body).encode(), "application/json", args.timeout)
    elif args.operation == "expire-orders":  # unpaid payment orders past their expiry
        body = {"as_of": current.isoformat()}
        post(f"{base}/orders/expire", json.dumps(body).encode(), "application/json", args.timeout)
    else:
        day = (current.date() - timedelta(days=1)).isoformat()
        source = args.statement_url.format(gateway=args.gateway, date=day)
        with urllib.request.urlopen(source, timeout=300) as response:
            statement = response.read()
        url = f"{base}/reconciliation/{args.gateway}/{day}"
        post(url, statement, "text/csv; charset=utf-8", args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
