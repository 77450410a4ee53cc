"""The main job, short: 60 households for 3 months through four real services.

The same code as ``make demo`` (community from the sample ledger, personas, billing runs,
signed gateway webhooks, sweeps, dispatch to the sandbox's fake providers, staff outcomes),
then the invariants asserted from the services' own APIs: the money balances, every fen the
owners paid was recorded once despite duplicated notifications, nobody who had paid was
reminded, no payment fell into exceptions; and the same seed gives the same numbers.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from demo.api import Api, Tokens
from demo.run import DemoConfig, collect, run_year, wait_ready
from demo.world import build
from sandbox import Sandbox
from tests.support.console import DIST, ConsoleProcess
from tests.support.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.long]


def test_same_seed_same_community() -> None:
    first, people = build(11, 60)
    again, people_again = build(11, 60)
    assert first == again
    assert [h.persona for h in people] == [h.persona for h in people_again]
    other, _ = build(12, 60)
    assert other != first
    kinds = {h.kind for h in people}
    assert kinds == {"lived_in", "vacant", "shop"}, "the sample keeps every kind of unit"
    assert any(h.opening_arrears_fen for h in people)


async def test_short_demo_keeps_the_invariants(
    create_database, services, test_prefix, kafka, dev_issuer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = Sandbox.load_or_create(tmp_path / "sandbox")
    port, smtp_port = free_port(), free_port()
    sandbox.start(port, smtp_port)
    env = {
        **sandbox.service_env(port, smtp_port),
        "NOTIFIER_DISPATCHER_ENABLED": "false",
        "DUNNING_SWEEP_INTERVAL_S": "0",
        "NOTIFIER_REMINDER_CAP": "6",
    }
    try:
        procs = {}
        for name in ("billing", "payments", "dunning", "notifier"):
            own = {  # the factory prefixes the service's name itself
                k.split("_", 1)[1]: v for k, v in env.items() if k.startswith(name.upper() + "_")
            }
            procs[name] = services(name, await create_database(name), **own)
            procs[name].start(wait=False)
        for proc in procs.values():
            proc.wait_ready(timeout=120)
        urls = {name: proc.url for name, proc in procs.items()}
        config = DemoConfig(
            seed=11,
            households=60,
            months=3,
            start=date(2026, 1, 1),
            bootstrap=kafka,
            prefix=test_prefix,
            urls=urls,
        )
        api = Api(urls, Tokens(config.company_id, issuer=dev_issuer))
        try:
            await wait_ready(api)
            sim, setup = await run_year(config, api, sandbox)
            report = await collect(config, sim, setup)
        finally:
            await api.close()
        # make demo leaves the console running in front of the services (services.sh): it
        # answers, and its development sign-in as printed (a fee clerk of co-demo and the
        # demo's community) reaches the demo's units through its API proxy.
        console = ConsoleProcess(urls, dev_issuer, tmp_path / "console.log")
        try:
            async with httpx.AsyncClient(base_url=console.url, timeout=30) as http:
                r = await http.get("/console/config")
                assert r.status_code == 200 and r.json()["dev_sign_in"] is True
                if (DIST / "index.html").is_file():  # make test builds it (make console)
                    r = await http.get("/cashier")
                    assert r.status_code == 200 and 'id="app"' in r.text
                r = await http.post(
                    "/dev/sign-in",
                    json={"subject": "clerk-1", "role": "fee_clerk",
                          "company_id": config.company_id, "communities": [config.community_id]},
                )  # fmt: skip
                assert r.status_code == 200, r.text
                token = r.json()["access_token"]
                r = await http.get(
                    f"/api/billing/communities/{config.community_id}/units",
                    params={"limit": 5},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 200, r.text
                assert len(r.json()["items"]) == 5
        finally:
            console.stop()
    finally:
        sandbox.stop()

    failed = [i for i in report["invariants"] if not i["ok"]]
    assert not failed, (failed, report["reminders_to_payers"], report["notification_statuses"])
    assert setup["units"] == 60
    money = report["money"]
    assert money["payments_fen"] > 0
    assert money["payments_fen"] - money["refunds_fen"] == (
        money["allocated_fen"] + money["credit_fen"]
    )
    assert report["reminders_to_payers"] == []
    months = report["months"]
    assert [m["month"] for m in months] == ["2026-01", "2026-02", "2026-03"]
    assert all(m["billed_fen"] > 0 for m in months)
    assert any(m["collected_fen"] > 0 for m in months)
    # Every kind of charge of the fee schedule reached the bills: the area fee, parking and
    # the pass-through water from the meter readings.
    billed = {r["item"]: r["billed_fen"] for r in report["fee_items"]}
    assert billed.get("property_fee", 0) > 0 and billed.get("water", 0) > 0, billed
    assert billed.get("parking", 0) > 0, billed
    # The year really happened: gateways were used, some notifications arrived twice, owners
    # were reminded, cases escalated, messages reached the sandbox's phones.
    assert set(report["payments_by_channel"]) & {"wechat_pay", "alipay", "unionpay"}
    assert sum(report["escalations_by_stage"].values()) > 0
    assert sum(report["reminders_by_channel"].values()) > 0
    assert sandbox.counts().get("sms", 0) > 0
    # The provider's delivery reports reached notifier: every SMS is delivered, with proof.
    statuses = report["notification_statuses"]
    assert not [k for k in statuses if "/sms/sent/" in k], statuses
    assert any(k.startswith("reminder/sms/delivered/") for k in statuses), statuses
