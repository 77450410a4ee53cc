"""Bulk jobs (migration 0017, the console's workbench) over the real database: two workers
share one job without doing an item twice, a chunk done again changes nothing, a case
refused fails alone, and another company's token (or one of other communities) cannot read
the job or queue a case it may not see."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import httpx
import pytest

from dunning.service_layer import jobs
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from services.dunning.tests.integration.support import at, feed, invoice
from tests.support.auth import BearerAuth, staff_token

pytestmark = pytest.mark.integration

UNITS = 40


async def cases(pool: asyncpg.Pool, n: int = UNITS) -> list[str]:
    """``n`` households with an overdue bill (half in c-1, half in c-9): their open cases."""
    for k in range(n):
        await feed(pool, invoice(f"u{k}", date(2026, 1, 31), community=("c-1", "c-9")[k % 2]))
    rows = await pool.fetch("SELECT case_id FROM arrears_cases ORDER BY case_id")
    assert len(rows) == n
    return [r["case_id"] for r in rows]


async def worker(pool: asyncpg.Pool, name: str, job_id: str) -> int:
    """A dunning replica's job worker: chunks until the job is finished; items it did."""
    done = 0
    async with pool.acquire() as conn:
        while await pool.fetchval(
            "SELECT finished_at IS NULL FROM bulk_jobs WHERE job_id = $1", job_id
        ):
            done += await jobs.work_chunk(conn, worker=name, chunk=3)
            await asyncio.sleep(0.01)  # the other replica's turn to claim
    return done


async def audits(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'case.assigned'"))


async def test_two_workers_share_a_job(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    all_cases = await cases(pool)
    selected = all_cases[: UNITS - 4]
    r = await api.post(
        "/jobs/case-assignments", json={"case_ids": selected + selected[:3], "staff_id": "hk-7"}
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["total"], job["done"], job["finished"]) == (len(selected), 0, False)

    shares = await asyncio.gather(*(worker(pool, n, job["job_id"]) for n in ("r-1", "r-2")))
    assert sum(shares) == len(selected) and min(shares) > 0, f"both workers worked: {shares}"
    assert await pool.fetchval(
        "SELECT count(DISTINCT done_by) FROM bulk_job_items WHERE job_id = $1", job["job_id"]
    ) == 2  # fmt: skip

    assigned = await pool.fetch("SELECT case_id, assigned_to, assigned_role FROM arrears_cases")
    assert {r["case_id"] for r in assigned if r["assigned_to"] == "hk-7"} == set(selected)
    assert {r["assigned_role"] for r in assigned if r["assigned_to"] == "hk-7"} == {"housekeeper"}
    assert await audits(pool) == len(selected), "each case assigned (and audited) once"

    r = await api.get(f"/jobs/{job['job_id']}")
    assert r.status_code == 200, r.text
    progress = r.json()
    assert progress["finished"] and progress["done"] == progress["total"] == len(selected)
    assert (progress["failed"], progress["changed"], progress["errors"]) == (0, len(selected), [])


async def test_a_redone_chunk_changes_nothing(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    selected = (await cases(pool, 8))[:6]
    r = await api.post("/jobs/case-assignments", json={"case_ids": selected, "staff_id": "hk-1"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    async with pool.acquire() as conn:
        assert await jobs.work_chunk(conn, chunk=100) == 6
        assert await jobs.work_chunk(conn) == 0  # nothing left to claim
    before = await pool.fetch("SELECT * FROM arrears_cases ORDER BY case_id")
    audited = await audits(pool)

    # The chunk is done again (as after a replica died before its marks were seen).
    await pool.execute(
        "UPDATE bulk_job_items SET state = 'pending' WHERE job_id = $1 AND item_no < 4", job_id
    )
    async with pool.acquire() as conn:
        assert await jobs.work_chunk(conn, chunk=100) == 4
    assert await pool.fetch("SELECT * FROM arrears_cases ORDER BY case_id") == before
    assert await audits(pool) == audited
    progress = (await api.get(f"/jobs/{job_id}")).json()
    assert (progress["done"], progress["changed"], progress["finished"]) == (6, 2, True)


async def test_a_refused_case_fails_alone(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    selected = await cases(pool, 4)
    r = await api.post("/jobs/case-assignments", json={"case_ids": selected, "staff_id": "hk-2"})
    job_id = r.json()["job_id"]
    # The case vanishes from the requester's scope between the request and the work.
    await pool.execute(
        "UPDATE arrears_cases SET community_id = 'c-x' WHERE case_id = $1", selected[1]
    )
    async with pool.acquire() as conn:
        await jobs.work_chunk(conn)
    progress = (await api.get(f"/jobs/{job_id}")).json()
    assert (progress["done"], progress["failed"], progress["finished"]) == (3, 1, True)
    assert progress["errors"] == [
        {"case_id": selected[1], "error": f"case {selected[1]} not found"}
    ]
    rows = await pool.fetch("SELECT case_id, assigned_to FROM arrears_cases")
    assert {r["case_id"] for r in rows if r["assigned_to"] == "hk-2"} == set(selected) - {
        selected[1]
    }


async def test_another_company_cannot_read_or_queue(
    pool: asyncpg.Pool, api: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    selected = await cases(pool, 4)  # two in c-1, two in c-9
    r = await api.post("/jobs/case-assignments", json={"case_ids": selected, "staff_id": "hk-3"})
    job_id = r.json()["job_id"]
    manager = [Role.community_manager]
    other = BearerAuth(staff_token(dev_issuer, manager, company_id="co-other"))
    only_c1 = BearerAuth(staff_token(dev_issuer, manager, communities=["c-1"]))
    both = BearerAuth(staff_token(dev_issuer, manager, communities=["c-1", "c-9"]))
    for auth in (other, only_c1):
        r = await api.get(f"/jobs/{job_id}", auth=auth)
        assert r.status_code == 404, r.text
        r = await api.post(
            "/jobs/case-assignments", json={"case_ids": selected, "staff_id": "x"}, auth=auth
        )
        assert r.status_code == 404, r.text
    assert (await api.get(f"/jobs/{job_id}", auth=both)).status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM bulk_jobs") == 1, "nothing else queued"
    r = await api.get("/jobs/job-nope")
    assert r.status_code == 404


async def test_tasks_due_by_a_day(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    """The workbench's "due today" (GET /tasks?due_by=): a call by the local day its lawful
    window opens (the sweep's window, in the policy's zone), another task by its due date."""
    (case_id,) = await cases(pool, 1)
    tasks = [  # (task, kind, window_start in Shanghai time, due_on)
        ("t-call-today", "phone_call", "2026-03-10 18:00", date(2026, 3, 17)),
        ("t-call-tomorrow", "phone_call", "2026-03-11 10:00", date(2026, 3, 18)),
        # 00:30 in Shanghai is still the 10th in UTC: the local day decides.
        ("t-call-after-midnight", "phone_call", "2026-03-11 00:30", date(2026, 3, 18)),
        ("t-visit-due", "visit", None, date(2026, 3, 10)),
        ("t-visit-overdue", "visit", None, date(2026, 3, 1)),
        ("t-visit-later", "visit", None, date(2026, 3, 12)),
    ]
    for task_id, kind, window, due in tasks:
        start = at(window) if window else None
        await pool.execute(
            "INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, "
            "reason, source, window_start, window_end, due_on, created_at) "
            "SELECT $1, $1, case_id, community_id, unit_id, $2, 'test', 'sweep', $3, "
            "$3::timestamptz + interval '2 hours', $4, now() FROM arrears_cases WHERE case_id = $5",
            task_id, kind, start, due, case_id,
        )  # fmt: skip
    r = await api.get("/tasks", params={"due_by": "2026-03-10"})
    assert r.status_code == 200, r.text
    assert sorted(t["task_id"] for t in r.json()["items"]) == [
        "t-call-today", "t-visit-due", "t-visit-overdue",
    ]  # fmt: skip
    r = await api.get("/tasks", params={"due_by": "2026-03-11", "kind": "phone_call"})
    assert sorted(t["task_id"] for t in r.json()["items"]) == [
        "t-call-after-midnight", "t-call-today", "t-call-tomorrow",
    ]  # fmt: skip


async def test_a_job_over_a_filter(
    pool: asyncpg.Pool, api: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    """``filter`` instead of ``case_ids``: every open case of the caller's scope matching it."""
    all_cases = await cases(pool, 6)
    in_c9 = {
        r["case_id"]
        for r in await pool.fetch("SELECT case_id FROM arrears_cases WHERE community_id = 'c-9'")
    }
    r = await api.post(
        "/jobs/case-assignments", json={"filter": {"community_id": "c-9"}, "staff_id": "hk-9"}
    )
    assert r.status_code == 202, r.text
    assert r.json()["total"] == len(in_c9) == 3
    async with pool.acquire() as conn:
        await jobs.work_chunk(conn)
    rows = await pool.fetch("SELECT case_id, assigned_to FROM arrears_cases")
    assert {r["case_id"] for r in rows if r["assigned_to"] == "hk-9"} == in_c9
    assert len(all_cases) == 6
    # Neither both nor none; a filter matching nothing (another company's) is 422.
    both = {"case_ids": all_cases[:1], "filter": {}, "staff_id": "x"}
    assert (await api.post("/jobs/case-assignments", json=both)).status_code == 422
    none = {"staff_id": "x"}
    assert (await api.post("/jobs/case-assignments", json=none)).status_code == 422
    other = BearerAuth(staff_token(dev_issuer, [Role.community_manager], company_id="co-other"))
    r = await api.post("/jobs/case-assignments", json={"filter": {}, "staff_id": "x"}, auth=other)
    assert r.status_code == 422, r.text
