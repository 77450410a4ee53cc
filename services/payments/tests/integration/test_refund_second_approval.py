"""Refunds above PAYMENTS_REFUND_SECOND_APPROVAL_OVER_FEN (default 50,000 fen) on a real
process, PostgreSQL and Kafka: recorded ``pending_approval`` with no money moved (no event,
nothing in the totals) while their amount stays reserved; a second member of staff approves
(the refund then runs as any counter refund: confirmed, one ``payment-refunded`` event) or
rejects (the amount is free again); the person who asked cannot decide, another company's
token sees nothing, a decided refund is not decided again."""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
import pytest
from payments_testkit.service import know_communities

from propfee.auth import Role
from tests.support.auth import bearer, staff_token
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration

COMMUNITY = "c-r"


async def test_a_large_refund_waits_for_a_second_person(  # type: ignore[no-untyped-def]
    services, create_database, dev_issuer, kafka, test_prefix
) -> None:
    db = await create_database("payments")
    proc = services("payments", db).start()
    await know_communities(db)
    await know_communities(db, "c-other-co", company_id="co-2")

    def who(subject: str, roles: list[Role], company: str = "co-1") -> dict[str, str]:
        return bearer(staff_token(dev_issuer, roles, company_id=company, subject=subject))

    fin_a = who("fin-a", [Role.finance])
    fin_b = who("fin-b", [Role.finance])
    manager = who("mgr-c", [Role.community_manager])
    other_company = who("admin-x", [Role.company_admin], "co-2")
    conn = await asyncpg.connect(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
        r = await http.post(
            "/payments/counter",
            headers={**fin_a, "Idempotency-Key": f"counter-{uuid.uuid4()}"},
            json={
                "community_id": COMMUNITY,
                "unit_id": "u-r1",
                "payer_party_id": "owner-r1",
                "amount_fen": 100_000,
                "channel": "cash",
            },
        )
        assert r.status_code == 201, r.text
        payment_id = r.json()["payment_id"]

        async def refund(amount: int, headers: dict[str, str]) -> httpx.Response:
            return await http.post(
                f"/payments/{payment_id}/refunds",
                headers=headers,
                json={"amount_fen": amount, "reason": "多收退回", "requested_by": "fin-b"},
            )

        # Above the threshold: pending, no money moved (even with another name in the body,
        # the token's subject is who asked).
        r = await refund(60_000, fin_a)
        assert r.status_code == 201 and r.json()["status"] == "pending_approval", r.text
        big = r.json()["refund_id"]
        assert r.json()["refunded_at"] is None
        totals = (await http.get("/reports/totals", headers=fin_a)).json()
        assert totals["refunds"] == {"count": 0, "amount_fen": 0}
        assert await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic LIKE '%payment-refunded'"
        ) == 0  # fmt: skip
        # ... but its amount is reserved: 40,000 fen left.
        r = await refund(40_001, fin_b)
        assert r.status_code == 409, r.text

        # The queue, scoped: another company sees nothing, decides nothing.
        queue = await http.get(f"/communities/{COMMUNITY}/refunds", headers=manager,
                               params={"status": "pending_approval"})  # fmt: skip
        assert [x["refund_id"] for x in queue.json()["items"]] == [big], queue.text
        assert queue.json()["items"][0]["unit_id"] == "u-r1"
        assert (await http.get(f"/communities/{COMMUNITY}/refunds",
                               headers=other_company)).status_code == 404  # fmt: skip
        r = await http.post(f"/refunds/{big}/approval", headers=other_company,
                            json={"decision": "approve"})  # fmt: skip
        assert r.status_code == 404, r.text
        # A role that may not refund may not approve either.
        r = await http.post(f"/refunds/{big}/approval", headers=who("clerk", [Role.fee_clerk]),
                            json={"decision": "approve"})  # fmt: skip
        assert r.status_code == 403, r.text
        # The person who asked cannot decide.
        r = await http.post(f"/refunds/{big}/approval", headers=fin_a,
                            json={"decision": "approve"})  # fmt: skip
        assert r.status_code == 403 and r.json()["refused"] == "same_person", r.text
        assert await conn.fetchval(
            "SELECT status FROM refunds WHERE refund_id = $1", big
        ) == "pending_approval"  # fmt: skip

        # Someone else approves: the counter refund is confirmed, one event.
        r = await http.post(f"/refunds/{big}/approval", headers=fin_b,
                            json={"decision": "approve", "note": "核实无误"})  # fmt: skip
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["status"] == "succeeded" and done["decided_by"] == "fin-b"
        assert done["decision_note"] == "核实无误" and done["refunded_at"]
        r = await http.post(f"/refunds/{big}/approval", headers=manager,
                            json={"decision": "reject"})  # fmt: skip
        assert r.status_code == 409 and r.json()["refused"] == "not_pending", r.text
        records = await read_topic(
            kafka, test_prefix + "payments.payment-refunded", at_least=1, settle=2.0
        )
        assert [json.loads(x.value)["amount_fen"] for x in records] == [60_000]

        # A rejection frees the amount; at the threshold a refund runs at once (as before).
        other = await http.post(
            "/payments/counter",
            headers={**fin_a, "Idempotency-Key": f"counter-{uuid.uuid4()}"},
            json={
                "community_id": COMMUNITY,
                "unit_id": "u-r2",
                "payer_party_id": "owner-r2",
                "amount_fen": 90_000,
                "channel": "cash",
            },
        )
        payment_id = other.json()["payment_id"]
        r = await refund(80_000, manager)
        assert r.json()["status"] == "pending_approval", r.text
        r = await http.post(f"/refunds/{r.json()['refund_id']}/approval", headers=fin_a,
                            json={"decision": "reject", "note": "金额有误"})  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
        r = await refund(50_000, manager)
        assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
        totals = (await http.get("/reports/totals", headers=fin_a)).json()
        assert totals["refunds"] == {"count": 2, "amount_fen": 110_000}
        actions = [
            x["action"]
            for x in await conn.fetch("SELECT action FROM audit_log ORDER BY audit_id")
            if x["action"].startswith("refund.")
        ]
        assert actions.count("refund.approved") == 1 and actions.count("refund.rejected") == 1
    await conn.close()
