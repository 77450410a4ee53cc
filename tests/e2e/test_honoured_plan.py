"""Issue 18 rule 9 end to end: billing makes an installment plan over HTTP, its
InstallmentPlanCreated crosses the broker to dunning, and a sweep then escalates only the
household without a plan; a manual advance of the household honouring its plan is refused
(409), whatever stage staff ask for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from propfee.auth import Role
from tests.support.auth import BearerAuth, staff_token
from tests.support.billing_api import create_unit, invoice_body, setup_community
from tests.support.fixtures import wait_until

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")


async def test_a_household_on_an_honoured_plan_is_neither_escalated_nor_advanced(
    create_database, services, staff_auth, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    names = ("billing", "dunning")
    dbs = {name: await create_database(name) for name in names}
    extra = {"dunning": {"sweep_interval_s": "0"}}
    procs = {n: services(n, dbs[n], **extra.get(n, {})) for n in names}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready()
    billing, dunning = (procs[n].url for n in names)
    community = f"c-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=15, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        planned, _ = await create_unit(http, billing, community, "1301")
        control, _ = await create_unit(http, billing, community, "1302")
        invoices = {}
        for unit in (planned, control):  # January's, long overdue
            r = await http.post(f"{billing}/invoices", json=invoice_body(unit))
            assert r.status_code == 201, r.text
            invoices[unit] = r.json()["invoice_id"]
        first_due = (datetime.now(UTC) + timedelta(days=20)).date()
        r = await http.post(
            f"{billing}/units/{planned}/installment-plans",
            json={"invoice_ids": [invoices[planned]], "parts": 3, "first_due": str(first_due),
                  "reason": "家庭困难，分期缴纳"},
        )  # fmt: skip
        assert r.status_code == 201, r.text

        async def plan_known() -> bool:
            cases = {c["unit_id"]: c for c in (await http.get(f"{dunning}/cases")).json()["items"]}
            if planned not in cases or control not in cases:
                return False
            pauses = (await http.get(f"{dunning}/cases/{cases[planned]['case_id']}/pauses")).json()[
                "items"
            ]
            return any(p.get("plan_id") for p in pauses)

        await wait_until(plan_known, timeout=60)
        cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
        # Three days on, at 10:00 in Shanghai (outside quiet hours), after the plan was made.
        day = datetime.now(SH).date() + timedelta(days=3)
        as_of = datetime.combine(day, time(10, 0), SH)
        sweep = await http.post(f"{dunning}/sweeps", json={"as_of": as_of.isoformat()}, auth=cron)
        assert sweep.status_code == 200, sweep.text
        assert sweep.json()["escalated"] == 1
        cases = {c["unit_id"]: c for c in (await http.get(f"{dunning}/cases")).json()["items"]}
        assert cases[planned]["stage"] is None and cases[control]["stage"] is not None
        escalations = (
            await http.get(f"{dunning}/cases/{cases[planned]['case_id']}/escalations")
        ).json()["items"]
        assert escalations == []
        refused = await http.post(
            f"{dunning}/cases/{cases[planned]['case_id']}/advance",
            json={"stage": "friendly_letter", "reason": "试图绕过分期"},
        )
        assert refused.status_code == 409, refused.text
        assert "case_paused" in refused.text or "under_honoured_plan" in refused.text
    for proc in procs.values():
        assert proc.stop_gracefully(), proc.log_tail()
