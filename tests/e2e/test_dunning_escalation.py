"""Dunning end to end: billing issues two invoices; one household pays at the counter before the due date; a sweep
as of a date after the due date escalates only the household that still owes, and notifier
queues its reminder (ArrearsEscalated crosses the broker); the payer is never reminded.
Dunning learns the community's company from billing.community-updated: the company's staff
token sees the cases, another company's does not."""

from __future__ import annotations

import uuid

import httpx
import pytest

from propfee.auth import Role
from tests.support.auth import BearerAuth, bearer, staff_token
from tests.support.billing_api import create_unit, invoice_body, setup_community, this_month
from tests.support.fixtures import wait_until

pytestmark = pytest.mark.integration


async def test_sweep_reminds_who_owes_and_never_who_paid(
    create_database, services, staff_auth, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    names = ("billing", "payments", "dunning", "notifier")
    dbs = {name: await create_database(name) for name in names}
    extra = {"dunning": {"sweep_interval_s": "0"}, "notifier": {"dispatcher_enabled": "false"}}
    procs = {n: services(n, dbs[n], **extra.get(n, {})) for n in names}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready()
    billing, payments, dunning, notifier = (procs[n].url for n in names)
    community = f"c-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=15, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        owes, _ = await create_unit(http, billing, community, "1201")
        paid, payer = await create_unit(http, billing, community, "1202")
        invoices = {}
        # Invoices are issued now (staff may not date them months back): the one paid below
        # is this month's (settled without a late fee), the other January's, long overdue.
        for unit in (owes, paid):
            month = this_month() if unit == paid else None
            r = await http.post(f"{billing}/invoices", json=invoice_body(unit, month=month))
            assert r.status_code == 201, r.text
            invoices[unit] = r.json()
        key = f"k-{uuid.uuid4()}"
        counter: list[httpx.Response] = []

        async def paid_at_the_counter() -> bool:
            # Payments learns the invoice from Kafka: until then it answers 404 (not there
            # yet); the same Idempotency-Key makes a retry the same payment.
            r = await http.post(
                f"{payments}/payments/counter",
                json={"community_id": community, "unit_id": paid, "payer_party_id": payer,
                      "invoice_ids": [invoices[paid]["invoice_id"]], "amount_fen": 27580,
                      "channel": "cash"},  # paid now: staff may not date it months back
                headers={"Idempotency-Key": key},
            )  # fmt: skip
            counter.append(r)
            return r.status_code != 404

        await wait_until(paid_at_the_counter, timeout=60)
        assert counter[-1].status_code == 201, counter[-1].text

        async def settled_and_open() -> bool:
            cases = {c["unit_id"]: c for c in (await http.get(f"{dunning}/cases")).json()["items"]}
            return (
                cases.get(paid, {}).get("status") == "closed"
                and cases.get(owes, {}).get("status") == "open"
            )

        await wait_until(settled_and_open, timeout=60)
        stranger = bearer(staff_token(dev_issuer, company_id="co-other"))
        async with httpx.AsyncClient(timeout=15, headers=stranger) as other:
            assert (await other.get(f"{dunning}/cases")).json()["items"] == []
        # A sweep as of a chosen instant is the service role's (the simulation clock).
        cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
        sweep = await http.post(
            f"{dunning}/sweeps", json={"as_of": "2026-02-08T10:00:00+08:00"}, auth=cron
        )
        assert sweep.status_code == 200, sweep.text
        assert sweep.json()["escalated"] == 1

        async def reminder_queued() -> bool:
            rows = (await http.get(f"{notifier}/notifications", params={"unit_id": owes})).json()[
                "items"
            ]
            return any(n["message_type"] == "reminder" for n in rows)

        await wait_until(reminder_queued, timeout=60)
        rows = (await http.get(f"{notifier}/notifications", params={"unit_id": paid})).json()[
            "items"
        ]
        assert not any(n["message_type"] == "reminder" for n in rows)
    for proc in procs.values():
        assert proc.stop_gracefully(), proc.log_tail()
