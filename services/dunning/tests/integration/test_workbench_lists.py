"""The workbench's lists over the real database (issue 23): promises falling due
(``GET /promises?due_by=&status=open``), keyset-paged, scoped to the caller's company and
communities (another company's token sees none; a community or case outside the caller's
scope is 404), the legal role's only on the legal track."""

from __future__ import annotations

from datetime import date

import asyncpg
import httpx
import pytest

from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from services.dunning.tests.integration.support import feed, invoice
from tests.support.auth import BearerAuth, staff_token

pytestmark = pytest.mark.integration


async def open_cases(pool: asyncpg.Pool, n: int) -> list[str]:
    """``n`` households with an overdue bill (alternately in c-1 and c-9): their cases."""
    for k in range(n):
        await feed(pool, invoice(f"u{k}", date(2026, 1, 31), community=("c-1", "c-9")[k % 2]))
    rows = await pool.fetch("SELECT case_id FROM arrears_cases ORDER BY unit_id")
    return [r["case_id"] for r in rows]


async def promise(api: httpx.AsyncClient, case_id: str, day: str, fen: int = 10000) -> str:
    r = await api.post(f"/cases/{case_id}/promises", json={"amount_fen": fen, "promised_date": day})
    assert r.status_code == 201, r.text
    return str(r.json()["promise_id"])


async def test_promises_falling_due(
    pool: asyncpg.Pool, api: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    cases = await open_cases(pool, 4)  # u0, u2 in c-1; u1, u3 in c-9
    overdue = await promise(api, cases[0], "2026-03-01")
    today = await promise(api, cases[1], "2026-03-10")
    later = await promise(api, cases[2], "2026-03-20")
    kept = await promise(api, cases[3], "2026-03-05")
    await pool.execute("UPDATE promises SET status = 'kept' WHERE promise_id = $1", kept)

    r = await api.get("/promises", params={"due_by": "2026-03-10", "status": "open"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [p["promise_id"] for p in items] == [overdue, today], "soonest first"
    assert items[0]["case_id"] == cases[0] and items[0]["amount_fen"] == 10000
    assert items[0]["room_label"] and items[0]["community_id"] == "c-1"
    r = await api.get("/promises", params={"due_by": "2026-03-10"})
    assert [p["promise_id"] for p in r.json()["items"]] == [overdue, kept, today]
    r = await api.get("/promises", params={"community_id": "c-9", "status": "open"})
    assert [p["promise_id"] for p in r.json()["items"]] == [today]
    r = await api.get("/promises", params={"case_id": cases[2]})
    assert [p["promise_id"] for p in r.json()["items"]] == [later]

    # Keyset pages: one at a time, every promise once, in order.
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        r = await api.get("/promises", params=params)
        assert r.status_code == 200, r.text
        seen += [p["promise_id"] for p in r.json()["items"]]
        cursor = r.json()["next"]
        if not cursor:
            break
    assert seen == [overdue, kept, today, later]

    # The case's assignee filters ("mine").
    r = await api.post(f"/cases/{cases[1]}/assignment", json={"staff_id": "hk-1"})
    assert r.status_code == 200, r.text
    r = await api.get("/promises", params={"assigned_to": "hk-1", "due_by": "2026-03-10"})
    assert [p["promise_id"] for p in r.json()["items"]] == [today]


async def test_promises_are_scoped(
    pool: asyncpg.Pool, api: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    cases = await open_cases(pool, 2)  # u0 in c-1, u1 in c-9
    in_c1 = await promise(api, cases[0], "2026-03-01")
    await promise(api, cases[1], "2026-03-01")
    housekeeper = [Role.housekeeper]
    other = BearerAuth(staff_token(dev_issuer, housekeeper, company_id="co-other"))
    only_c1 = BearerAuth(staff_token(dev_issuer, housekeeper, communities=["c-1"]))
    legal = BearerAuth(staff_token(dev_issuer, [Role.legal]))

    r = await api.get("/promises", auth=other)
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    for params in ({"community_id": "c-1"}, {"case_id": cases[0]}):
        assert (await api.get("/promises", params=params, auth=other)).status_code == 404
    r = await api.get("/promises", auth=only_c1)
    assert [p["promise_id"] for p in r.json()["items"]] == [in_c1]
    r = await api.get("/promises", params={"case_id": cases[1]}, auth=only_c1)
    assert r.status_code == 404, r.text
    r = await api.get("/promises", params={"community_id": "c-9"}, auth=only_c1)
    assert r.status_code == 404, r.text
    # The legal role: cases on the legal track only (none here).
    r = await api.get("/promises", auth=legal)
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    # A cursor of another list is refused.
    r = await api.get("/promises", params={"cursor": "bm9wZQ"})
    assert r.status_code == 422, r.text
