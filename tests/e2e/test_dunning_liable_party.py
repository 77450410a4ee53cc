"""Issue 18 rule 7 end to end: billing issues a tenant's overdue invoice naming the owner
jointly liable (InvoiceIssued.liable_party_ids); dunning opens the tenant's case; a community
policy put over HTTP adds the owner from the reminder; one sweep's escalation reaches notifier
over the broker twice, for the tenant and for the owner, and notifier queues a reminder for
each (the owner's is not collapsed into the tenant's)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from propfee.auth import Role
from tests.support.auth import BearerAuth, staff_token
from tests.support.billing_api import invoice_body, setup_community
from tests.support.fixtures import wait_until

pytestmark = pytest.mark.integration


async def test_a_defaulting_tenant_and_the_jointly_liable_owner_are_both_reminded(
    create_database, services, staff_auth, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    names = ("billing", "dunning", "notifier")
    dbs = {name: await create_database(name) for name in names}
    extra = {"dunning": {"sweep_interval_s": "0"}, "notifier": {"dispatcher_enabled": "false"}}
    procs = {n: services(n, dbs[n], **extra.get(n, {})) for n in names}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready()
    billing, dunning, notifier = (procs[n].url for n in names)
    community = f"c-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=15, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        r = await http.post(f"{billing}/units", json={
            "community_id": community, "building": "3栋", "entrance": "2单元", "room": "1301",
            "floor_area_m2": "98.50", "owner": {"name": "张三", "phone": "13812345678"},
            "tenant": {"name": "李四", "phone": "13912345678"}, "payer": "tenant",
        })  # fmt: skip
        assert r.status_code == 201, r.text
        unit = r.json()
        unit_id = unit["unit_id"]
        roles = {p["role"]: p["party_id"] for p in unit["parties"]}
        tenant, owner = roles["tenant"], roles["owner"]
        r = await http.post(f"{billing}/invoices", json=invoice_body(unit_id))
        assert r.status_code == 201, r.text

        async def case_opened() -> bool:
            r = await http.get(f"{dunning}/cases", params={"unit_id": unit_id})
            # 404 until dunning has learnt the unit (its invoice) from Kafka.
            return r.status_code == 200 and [c["payer_party_id"] for c in r.json()["items"]] == [
                tenant
            ]

        await wait_until(case_opened, timeout=60)
        policy = (await http.get(f"{dunning}/policies/{community}")).json()
        r = await http.put(
            f"{dunning}/policies/{community}",
            json={**policy, "joint_liability_from_stage": "reminder"},
        )
        assert r.status_code == 200, r.text
        cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
        sweep = await http.post(
            f"{dunning}/sweeps", json={"as_of": "2026-02-08T10:00:00+08:00"}, auth=cron
        )
        assert sweep.status_code == 200, sweep.text
        assert sweep.json()["escalated"] == 1

        async def both_reminded() -> bool:
            r = await http.get(f"{notifier}/notifications", params={"unit_id": unit_id})
            if r.status_code == 404:  # notifier has not learnt the unit yet (Kafka)
                return False
            assert r.status_code == 200, r.text
            rows = r.json()["items"]
            return {n["party_id"] for n in rows if n["message_type"] == "reminder"} == {
                tenant,
                owner,
            }

        await wait_until(both_reminded, timeout=60)
        rows = (await http.get(f"{notifier}/notifications", params={"unit_id": unit_id})).json()[
            "items"
        ]
        reminders = [n for n in rows if n["message_type"] == "reminder"]
        assert len(reminders) == 2
        assert {(n["subject_id"], n["stage"]) for n in reminders} == {
            (reminders[0]["subject_id"], "reminder")
        }, "one case, one stage: the tenant's message and the owner's"
    for proc in procs.values():
        assert proc.stop_gracefully(), proc.log_tail()
