"""GET /reports/cashier-day (日清日结 per cashier) on a real process and database: each
counter payment counts in the day of the staff member who recorded it, within the caller's
communities; a fee clerk reads their own day only; a replay counts once."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from payments_testkit.service import know_communities

from propfee.auth import Role
from tests.support.auth import BearerAuth, staff_token

pytestmark = pytest.mark.integration


async def test_each_cashier_closes_their_own_day(services, create_database, dev_issuer) -> None:  # type: ignore[no-untyped-def]
    db = await create_database("payments")
    proc = services("payments", db).start()
    await know_communities(db, "c-d1", "c-d2")

    def auth(subject: str, roles: list[Role], **more: object) -> BearerAuth:
        return BearerAuth(staff_token(dev_issuer, roles, subject=subject, **more))  # type: ignore[arg-type]

    wang, li = auth("clerk-wang", [Role.fee_clerk]), auth("clerk-li", [Role.fee_clerk])
    finance = auth("fin-zhao", [Role.finance])
    elsewhere = auth("fin-x", [Role.finance], company_id="co-other")
    only_d2 = auth("clerk-wang", [Role.fee_clerk], communities=["c-d2"])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()

    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:

        async def take(who: BearerAuth, community: str, fen: int, channel: str, key: str) -> str:
            r = await http.post(
                "/payments/counter",
                auth=who,
                json={"community_id": community, "unit_id": f"u-{community}",
                      "payer_party_id": f"owner-{community}", "amount_fen": fen,
                      "channel": channel},
                headers={"Idempotency-Key": key},
            )  # fmt: skip
            assert r.status_code in (200, 201), r.text
            return str(r.json()["payment_id"])

        key = f"counter-{uuid.uuid4()}"
        first = await take(wang, "c-d1", 1000, "cash", key)
        assert await take(wang, "c-d1", 1000, "cash", key) == first  # a double click
        second = await take(wang, "c-d2", 2000, "pos", f"counter-{uuid.uuid4()}")
        await take(li, "c-d1", 500, "cash", f"counter-{uuid.uuid4()}")

        async def day(who: BearerAuth, **params: str) -> httpx.Response:
            return await http.get("/reports/cashier-day", params={"day": today, **params}, auth=who)

        r = await day(wang)
        assert r.status_code == 200, r.text
        mine = r.json()
        assert mine["cashier"] == "clerk-wang"
        assert [p["payment_id"] for p in mine["payments"]] == [first, second]
        assert all(p["receipt_no"] for p in mine["payments"])
        assert mine["by_channel"] == [
            {"channel": "cash", "payments": 1, "received_fen": 1000},
            {"channel": "pos", "payments": 1, "received_fen": 2000},
        ]
        assert (mine["total_payments"], mine["total_received_fen"]) == (2, 3000)
        # Finance reads any cashier's day, the same figures; a clerk only their own.
        r = await day(finance, cashier="clerk-wang")
        assert r.status_code == 200 and r.json() == mine
        assert (await day(wang, cashier="clerk-li")).status_code == 403
        li_day = (await day(li)).json()
        assert (li_day["total_payments"], li_day["total_received_fen"]) == (1, 500)
        # Scope: another company sees nothing of it; a token of c-d2 only that community's.
        other = (await day(elsewhere, cashier="clerk-wang")).json()
        assert other["payments"] == [] and other["total_received_fen"] == 0
        narrow = (await day(only_d2)).json()
        assert [p["payment_id"] for p in narrow["payments"]] == [second]
        # Another day is empty; a malformed one is refused.
        assert (await day(wang, day="2020-01-01")).json()["total_payments"] == 0
        assert (await day(wang, day="yesterday")).status_code == 422
