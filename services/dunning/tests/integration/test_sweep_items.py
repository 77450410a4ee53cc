"""A sweep split into work items (migration 0015) over the real database: two replicas share
one sweep (every due case escalated exactly once, none missed), a replica that dies mid-item
leaves it to the other, and an item done again escalates nothing twice."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import httpx
import pytest

from dunning.service_layer import sweep
from dunning.service_layer.sweep import _CLAIM, _Item, _sweep_item, plan_sweep, run_sweep, work_one
from services.dunning.tests.integration.support import at, feed, invoice, published

pytestmark = pytest.mark.integration

AS_OF = "2026-02-08 10:00"
UNITS = 60


async def households(pool: asyncpg.Pool, n: int = UNITS) -> None:
    """``n`` households (half in c-1, half in c-9), each owing one bill due 2026-01-31: all
    due for the first reminder on 2026-02-08."""
    for k in range(n):
        await feed(pool, invoice(f"u{k}", date(2026, 1, 31), community=("c-1", "c-9")[k % 2]))


async def replica(pool: asyncpg.Pool, name: str, sweep_id: int) -> int:
    """A dunning replica's claimer: items until the sweep is finished; how many it did."""
    done = 0
    async with pool.acquire() as conn:
        while await pool.fetchval(
            "SELECT finished_at IS NULL FROM sweeps WHERE sweep_id = $1", sweep_id
        ):
            if await work_one(conn, worker=name):
                done += 1
            await asyncio.sleep(0.01)  # the other replica's turn to claim
    return done


async def assert_each_escalated_once(pool: asyncpg.Pool) -> None:
    per_case = await pool.fetch(
        "SELECT c.case_id, count(e.*) AS n FROM arrears_cases c "
        "LEFT JOIN escalations e USING (case_id) GROUP BY c.case_id"
    )
    assert len(per_case) == UNITS
    assert {r["n"] for r in per_case} == {1}, "every due case escalated exactly once"
    events = await published(pool)
    assert sorted(e.case_id for e in events) == sorted(r["case_id"] for r in per_case)


async def test_two_replicas_share_one_sweep(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    await households(pool)
    async with pool.acquire() as conn:
        sweep_id = await plan_sweep(conn, at(AS_OF), company_id="co-1", item_cases=5)
    items = await pool.fetchval("SELECT items_total FROM sweeps WHERE sweep_id = $1", sweep_id)
    assert items == UNITS // 5
    shares = await asyncio.gather(*(replica(pool, n, sweep_id) for n in ("r-1", "r-2")))
    assert sum(shares) == items and min(shares) > 0, f"both replicas worked: {shares}"
    assert await pool.fetchval(
        "SELECT count(DISTINCT done_by) FROM sweep_items WHERE sweep_id = $1", sweep_id
    ) == 2  # fmt: skip
    await assert_each_escalated_once(pool)
    # The sweep's result is its items' sum; its progress is visible over HTTP.
    result = await pool.fetchval("SELECT result FROM sweeps WHERE sweep_id = $1", sweep_id)
    assert result["escalated"] == UNITS and result["cases"] == UNITS
    assert result["items"] == items and result["items_failed"] == 0
    assert result["by_stage"] == {"reminder": UNITS}
    r = await api.get(f"/sweeps/{sweep_id}")
    assert r.status_code == 200, r.text
    progress = r.json()
    assert progress["finished"] and progress["items_done"] == progress["items_total"] == items
    assert progress["escalated"] == UNITS and progress["errors"] == []
    snapshot = await pool.fetch(
        "SELECT community_id, cases FROM tier_snapshots ORDER BY community_id"
    )
    assert [(r["community_id"], r["cases"]) for r in snapshot] == [
        ("c-1", UNITS // 2), ("c-9", UNITS // 2),
    ], "the day's snapshot sums every item's cases"  # fmt: skip
    assert (await api.get("/sweeps/999999")).status_code == 404


async def test_the_post_answers_once_the_other_replica_s_items_are_done_too(
    pool: asyncpg.Pool,
) -> None:
    await households(pool)
    stop = asyncio.Event()

    async def background_claimer() -> int:
        done = 0
        async with pool.acquire() as conn:
            while not stop.is_set():
                if await work_one(conn, worker="r-2"):
                    done += 1
                await asyncio.sleep(0.01)
        return done

    other = asyncio.create_task(background_claimer())
    async with pool.acquire() as conn:
        result = await run_sweep(conn, at(AS_OF), item_cases=4)
    stop.set()
    assert await other > 0, "the other replica took items of the sweep"
    assert result.escalated == UNITS and result.items == UNITS // 4
    await assert_each_escalated_once(pool)
    async with pool.acquire() as conn:
        again = await run_sweep(conn, at(AS_OF), item_cases=4)
    assert again.escalated == 0 and again.cases == UNITS, "the same sweep again: nothing"


async def test_a_replica_that_dies_mid_item_leaves_it_to_the_other(pool: asyncpg.Pool) -> None:
    await households(pool)
    async with pool.acquire() as conn:
        sweep_id = await plan_sweep(conn, at(AS_OF), item_cases=20)
    # Replica 1 claims an item and escalates its cases, then dies before committing.
    doomed = await pool.acquire()
    tx = doomed.transaction()
    await tx.start()
    item = _Item(**dict(await doomed.fetchrow(_CLAIM)))
    partial = await _sweep_item(doomed, item)
    assert partial["escalated"] > 0
    # Meanwhile replica 2 cannot claim that item (locked) but does the others.
    async with pool.acquire() as conn:
        while await work_one(conn, worker="r-2"):
            pass
        assert await conn.fetchval(
            "SELECT state FROM sweep_items WHERE sweep_id = $1 AND item_no = $2",
            sweep_id, item.item_no,
        ) == "pending"  # fmt: skip
    doomed.terminate()  # the replica's process dies: its transaction and claim with it
    await pool.release(doomed)
    assert await replica(pool, "r-2", sweep_id) == 1
    assert await pool.fetchval(
        "SELECT done_by FROM sweep_items WHERE sweep_id = $1 AND item_no = $2",
        sweep_id, item.item_no,
    ) == "r-2"  # fmt: skip
    await assert_each_escalated_once(pool)


async def test_an_item_done_again_escalates_nothing_twice(pool: asyncpg.Pool) -> None:
    await households(pool)
    async with pool.acquire() as conn:
        first = await run_sweep(conn, at(AS_OF), item_cases=10)
    assert first.escalated == UNITS
    outbox = await pool.fetchval("SELECT count(*) FROM outbox")
    tasks = await pool.fetchval("SELECT count(*) FROM tasks")
    # Its items done again (as if each "done" mark were lost after the work committed).
    await pool.execute(
        "UPDATE sweep_items SET state = 'pending' WHERE sweep_id = $1", first.sweep_id
    )
    async with pool.acquire() as conn:
        while await work_one(conn, worker="again"):
            pass
    redone = await pool.fetchval("SELECT result FROM sweeps WHERE sweep_id = $1", first.sweep_id)
    assert redone["escalated"] == 0 and redone["cases"] == UNITS
    assert await pool.fetchval("SELECT count(*) FROM outbox") == outbox, "no event twice"
    assert await pool.fetchval("SELECT count(*) FROM tasks") == tasks
    await assert_each_escalated_once(pool)


async def test_an_item_that_keeps_failing_is_given_up_and_counted(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await households(pool, 4)
    real = sweep._sweep_item

    async def fails_on_item_0(conn: asyncpg.Connection, item: _Item) -> dict[str, object]:
        if item.item_no == 0:
            await conn.execute("SELECT 1 / 0")
        return await real(conn, item)

    monkeypatch.setattr(sweep, "_sweep_item", fails_on_item_0)
    async with pool.acquire() as conn:
        sweep_id = await plan_sweep(conn, at(AS_OF), item_cases=2)
        while await work_one(conn, worker="r-1"):
            pass
    row = await pool.fetchrow(
        "SELECT state, attempts, last_error FROM sweep_items WHERE sweep_id = $1 AND item_no = 0",
        sweep_id,
    )
    assert row["state"] == "failed" and row["attempts"] == 3
    assert "DivisionByZero" in row["last_error"]
    result = await pool.fetchval("SELECT result FROM sweeps WHERE sweep_id = $1", sweep_id)
    assert result["items_failed"] == 1 and result["items"] == 2


async def test_the_post_wakes_when_another_replica_finishes_the_last_item(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The POST's replica finds the only item held by another replica: it does not poll out
    its back-off but wakes at the NOTIFY of the sweep's end (issue 22: the demo sweeps daily)."""
    await households(pool, 10)
    claimed, release = asyncio.Event(), asyncio.Event()
    real_item, real_plan = sweep._sweep_item, sweep.plan_sweep

    async def slow_item(conn: asyncpg.Connection, item: _Item) -> dict[str, object]:
        claimed.set()
        await release.wait()
        return await real_item(conn, item)

    async def other_replica() -> None:
        async with pool.acquire() as conn:
            assert await work_one(conn, worker="r-2")

    async def plan_then_lose_the_item(*args: object, **kwargs: object) -> int:
        sweep_id: int = await real_plan(*args, **kwargs)  # type: ignore[arg-type]
        tasks.append(asyncio.create_task(other_replica()))
        await claimed.wait()  # the other replica holds the sweep's only item
        return sweep_id

    tasks: list[asyncio.Task[None]] = []
    monkeypatch.setattr(sweep, "_sweep_item", slow_item)
    monkeypatch.setattr(sweep, "plan_sweep", plan_then_lose_the_item)
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, release.set)
    started = loop.time()
    async with pool.acquire() as conn:
        result = await run_sweep(conn, at(AS_OF), poll_s=30.0)
    elapsed = loop.time() - started
    await asyncio.gather(*tasks)
    assert result.escalated == 10 and result.items == 1
    assert elapsed < 10, f"woken by the NOTIFY, not the 30 s poll: {elapsed:.1f} s"
