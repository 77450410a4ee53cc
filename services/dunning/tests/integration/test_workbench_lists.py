"""The workbench's lists and exports over the real database (issue 23): promises falling due
(``GET /promises?due_by=&status=open``), keyset-paged, scoped to the caller's company and
communities (another company's token sees none; a community or case outside the caller's
scope is 404), the legal role's only on the legal track; the export job
(``POST /jobs/case-exports``, migration 0019) ends with exactly the selected cases' XLSX,
served to whoever may read the job only."""

from __future__ import annotations

import io
from datetime import date

import asyncpg
import httpx
import pytest
from openpyxl import load_workbook

from dunning.adapters.xlsx import XLSX_TYPE
from dunning.service_layer import exports, jobs
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


async def finish(pool: asyncpg.Pool) -> None:
    """A dunning replica's job worker, until nothing is pending."""
    async with pool.acquire() as conn:
        while await jobs.work_chunk(conn, chunk=2):
            pass


async def test_an_export_job_ends_with_the_selected_cases_workbook(
    pool: asyncpg.Pool, api: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    cases = await open_cases(pool, 6)
    selected = [cases[4], cases[1], cases[2]]
    r = await api.post("/jobs/case-exports", json={"case_ids": selected + selected[:1]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["kind"], job["total"], job["finished"], job["file_name"]) == (
        "export_cases", 3, False, None,
    )  # fmt: skip
    r = await api.get(f"/jobs/{job['job_id']}/file")
    assert r.status_code == 409, r.text  # not made yet
    await finish(pool)
    r = await api.get(f"/jobs/{job['job_id']}")
    progress = r.json()
    assert progress["finished"] and progress["done"] == 3 and progress["changed"] == 0
    assert progress["file_name"].endswith(".xlsx")

    r = await api.get(f"/jobs/{job['job_id']}/file")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(XLSX_TYPE)
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(exports.EXPORT_COLUMNS)
    assert [row[0] for row in rows[1:]] == selected, "exactly the selection, in its order"
    owed = {
        c["case_id"]: c["outstanding_fen"]
        for c in (await api.get("/cases", params={"limit": 100})).json()["items"]
    }
    column = exports.EXPORT_COLUMNS.index("outstanding_fen")
    assert [row[column] for row in rows[1:]] == [owed[c] for c in selected]

    # Another company's token, or one of other communities, neither reads nor downloads it.
    manager = [Role.community_manager]
    other = BearerAuth(staff_token(dev_issuer, manager, company_id="co-other"))
    only_c1 = BearerAuth(staff_token(dev_issuer, manager, communities=["c-1"]))
    for auth in (other, only_c1):
        assert (await api.get(f"/jobs/{job['job_id']}", auth=auth)).status_code == 404
        r = await api.get(f"/jobs/{job['job_id']}/file", auth=auth)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    # An assignment job has no file.
    r = await api.post("/jobs/case-assignments", json={"case_ids": cases[:1], "staff_id": "x"})
    await finish(pool)
    assert (await api.get(f"/jobs/{r.json()['job_id']}/file")).status_code == 409


async def test_an_export_job_refuses_what_the_caller_may_not_see(
    pool: asyncpg.Pool, api: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    cases = await open_cases(pool, 4)  # u0, u2 in c-1; u1, u3 in c-9
    reader = [Role.fee_clerk]
    other = BearerAuth(staff_token(dev_issuer, reader, company_id="co-other"))
    only_c1 = BearerAuth(staff_token(dev_issuer, reader, communities=["c-1"]))
    # A case of another community (or company): 404, nothing queued.
    for auth in (other, only_c1):
        r = await api.post("/jobs/case-exports", json={"case_ids": cases[:2]}, auth=auth)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await pool.fetchval("SELECT count(*) FROM bulk_jobs") == 0
    # A filter reaches the caller's cases only.
    r = await api.post("/jobs/case-exports", json={"filter": {}}, auth=only_c1)
    assert r.status_code == 202 and r.json()["total"] == 2, r.text
    job_id = r.json()["job_id"]
    # A case that leaves the requester's scope meanwhile fails alone and is left out.
    moved = await pool.fetchval(
        "SELECT case_id FROM arrears_cases WHERE community_id = 'c-1' ORDER BY unit_id LIMIT 1"
    )
    await pool.execute("UPDATE arrears_cases SET community_id = 'c-9' WHERE case_id = $1", moved)
    await finish(pool)
    progress = (await api.get(f"/jobs/{job_id}", auth=only_c1)).json()
    assert (progress["done"], progress["failed"], progress["finished"]) == (1, 1, True)
    r = await api.get(f"/jobs/{job_id}/file", auth=only_c1)
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] != moved
    assert (await api.post("/jobs/case-exports", json={})).status_code == 422
