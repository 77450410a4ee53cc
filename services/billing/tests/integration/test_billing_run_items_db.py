"""A billing run split into work items, shared by two claimers on one database (issue 22).

Each claimer has its own pool (its own connections: what two billing replicas are to the
database). Every unit is billed exactly once and none is missed: the invoices, their lines and
their InvoiceIssued events are those of the same run billed in one transaction (another
database, the same data). A claimer that dies with an item in hand (its connection killed
mid-item) leaves the item pending; another one bills it; an item done and offered again bills
nothing twice."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from billing.service_layer import runs
from billing.service_layer.ledger_import import import_ledger
from billing.service_layer.runs import RunInProgress, RunRequest, bill_next_item, run_billing
from propfee.db import create_pool, migrate_database

from .conftest import COMMUNITY, setup_community

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "unit" / "data" / "sample-ledger.csv"
JAN = RunRequest(COMMUNITY, date(2025, 1, 1), "monthly", date(2025, 1, 1))
ITEM_UNITS = 100  # 1,236 units: 13 items


async def _community(create_database) -> tuple[asyncpg.Pool, str]:  # type: ignore[no-untyped-def]
    """The sample ledger's community, with readings, one-off charges and a shared meter."""
    dsn = await create_database("billing")
    await migrate_database(dsn, "billing")
    pool = await create_pool(dsn, max_size=6)
    await setup_community(pool)
    await import_ledger(pool, COMMUNITY, SAMPLE.read_bytes(), "l.csv", opening_as_of=JAN.as_of)
    units = [r["unit_id"] for r in await pool.fetch("SELECT unit_id FROM units ORDER BY unit_key")]
    await pool.executemany(
        "INSERT INTO meter_readings (unit_id, item_code, period_month, previous, current) "
        "VALUES ($1, 'water', '2025-01-01', 100, $2)",
        [(u, 100 + n % 7) for n, u in enumerate(units[::50])],
    )
    await pool.executemany(
        "INSERT INTO one_off_charges (charge_id, unit_id, item_code, quantity, description, "
        "period_month) VALUES ($1, $2, 'repair_visit', 1, 'door', '2025-01-01')",
        [(f"chg-{n}", u) for n, u in enumerate(units[7::90])],
    )
    await pool.execute(
        "INSERT INTO shared_meter_readings (community_id, item_code, period_month, quantity) "
        "VALUES ($1, 'stair_light', '2025-01-01', 4321.5)",
        COMMUNITY,
    )
    return pool, dsn


async def _invoices(pool: asyncpg.Pool, run_id: str) -> list[tuple[object, ...]]:
    """The run's invoices by what they bill (ids are each database's own, and so the order
    in which a shared meter's last fen are handed out: its shares are left out here)."""
    rows = await pool.fetch(
        "SELECT u.unit_key, p.name, i.collection, "
        "array_agg(ARRAY[l.fee_item, l.quantity::text, CASE WHEN l.fee_item = 'stair_light' "
        "THEN '' ELSE l.amount_fen::text END] ORDER BY l.line_no) "
        "AS lines FROM invoices i JOIN invoice_lines l USING (invoice_id) "
        "JOIN units u USING (unit_id) JOIN parties p ON p.party_id = i.payer_party_id "
        "WHERE i.run_id = $1 GROUP BY u.unit_key, p.name, i.collection",
        run_id,
    )
    return sorted(tuple(r.values()) for r in rows)


async def _events(pool: asyncpg.Pool, period_start: str) -> list[dict]:  # type: ignore[type-arg]
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE topic = 'billing.invoice-issued' ORDER BY id"
    )
    events = [json.loads(bytes(r["payload"])) for r in rows]
    return [e for e in events if e["period_start"] == period_start]


async def _claim_all(pool: asyncpg.Pool) -> int:
    claimed = 0
    while await bill_next_item(pool, chunk=40):
        claimed += 1
    return claimed


async def test_two_claimers_bill_every_unit_once(create_database) -> None:  # type: ignore[no-untyped-def]
    reference, _ = await _community(create_database)
    shared, dsn = await _community(create_database)
    other_replica = await create_pool(dsn, max_size=4)
    try:
        # The same run in one transaction (the reference) and split into items.
        whole = await run_billing(reference, JAN, item_units=10_000)
        assert whole.created and whole.state == "done" and whole.items_total == 1
        split = await run_billing(shared, JAN, item_units=ITEM_UNITS)
        assert split.created and split.state == "running" and split.invoices == 0
        assert (split.items_total, split.items_done) == (13, 0)
        assert split.run_id == whole.run_id
        # Another run of the community waits until this one is done (409).
        with pytest.raises(RunInProgress):
            await run_billing(
                shared, RunRequest(COMMUNITY, date(2025, 1, 1), "quarterly", date(2025, 1, 1))
            )

        a, b = await asyncio.gather(_claim_all(shared), _claim_all(other_replica))
        assert a + b == 13 and a > 0 and b > 0, (a, b)

        summary, errors = await runs.progress(shared, COMMUNITY, split.run_id)
        assert errors == []
        assert summary.state == "done" and (summary.items_done, summary.items_failed) == (13, 0)
        assert (summary.invoices, summary.total_fen) == (whole.invoices, whole.total_fen)
        assert summary.invoices > 1236  # utilities collected on behalf: invoices of their own
        assert await _invoices(shared, split.run_id) == await _invoices(reference, whole.run_id)
        # One invoice per unit, payer and collection; every unit with a payer has one.
        assert not await shared.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM invoices WHERE run_id = $1 "
            "GROUP BY unit_id, payer_party_id, collection HAVING count(*) > 1) d",
            split.run_id,
        )
        assert await shared.fetchval(
            "SELECT count(DISTINCT unit_id) FROM invoices WHERE run_id = $1", split.run_id
        ) == await shared.fetchval("SELECT count(DISTINCT unit_id) FROM unit_parties WHERE pays")
        events = await _events(shared, "2025-01-01")
        assert sorted((e["room_label"], e["collection"]) for e in events) == sorted(
            (e["room_label"], e["collection"]) for e in await _events(reference, "2025-01-01")
        )
        assert sum(e["total_fen"] for e in events) == whole.total_fen
        assert {e["invoice_id"] for e in events} == set(
            await shared.fetchval(
                "SELECT array_agg(invoice_id) FROM invoices WHERE run_id = $1", split.run_id
            )
        )
        assert len(events) == summary.invoices
        # Readings and charges billed once, each by the run.
        for table in ("meter_readings", "one_off_charges", "shared_meter_readings"):
            assert not await shared.fetchval(
                f"SELECT count(*) FROM {table} WHERE billed_run_id IS DISTINCT FROM $1",
                split.run_id,
            ), table
        # The run again: found, nothing new.
        again = await run_billing(shared, JAN, item_units=ITEM_UNITS)
        assert not again.created and again.invoices == summary.invoices
    finally:
        await other_replica.close()
        await shared.close()
        await reference.close()


async def test_an_item_of_a_crashed_claimer_is_billed_once_by_another(create_database) -> None:  # type: ignore[no-untyped-def]
    pool, dsn = await _community(create_database)
    other = await create_pool(dsn, max_size=4)
    try:
        split = await run_billing(pool, JAN, item_units=ITEM_UNITS)
        # A claimer stops dead with its item billed but not yet committed: its connection
        # is killed (a process gone), the database rolls its transaction back.
        in_hand = asyncio.Event()
        pids: list[int] = []
        finish = runs._finish_item

        async def hang(conn, *args):  # type: ignore[no-untyped-def]
            pids.append(conn.get_server_pid())
            in_hand.set()
            while True:  # until its connection dies
                await asyncio.sleep(0.1)
                await conn.fetchval("SELECT 1")

        runs._finish_item = hang  # type: ignore[assignment]
        try:
            crashed = asyncio.create_task(bill_next_item(pool, chunk=40))
            await asyncio.wait_for(in_hand.wait(), 60)
            # Its item is locked: the other claimer skips it and takes the next one.
            runs._finish_item = finish  # type: ignore[assignment]
            assert await bill_next_item(other, chunk=40)
            done = await other.fetch(
                "SELECT item_no FROM billing_run_items WHERE state = 'done' ORDER BY 1"
            )
            assert [r["item_no"] for r in done] == [2]
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pids[0])
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                await asyncio.wait_for(crashed, 60)
        finally:
            runs._finish_item = finish  # type: ignore[assignment]
        assert (
            await other.fetchval(
                "SELECT state FROM billing_run_items WHERE run_id = $1 AND item_no = 1",
                split.run_id,
            )
            == "pending"
        )
        assert await _claim_all(other) == 12
        summary, _ = await runs.progress(other, COMMUNITY, split.run_id)
        assert summary.state == "done" and summary.items_done == 13
        assert summary.invoices == await other.fetchval(
            "SELECT count(*) FROM invoices WHERE run_id = $1", split.run_id
        )
        assert len(await _events(other, "2025-01-01")) == summary.invoices

        # An item offered again after it committed (a replay) bills nothing twice: its
        # units' months are billed (billed_months), its readings and charges marked.
        invoices = await other.fetchval("SELECT count(*) FROM invoices")
        await other.execute(
            "UPDATE billing_run_items SET state = 'pending' WHERE run_id = $1 AND item_no = 1",
            split.run_id,
        )
        assert await bill_next_item(other, chunk=40)
        assert await other.fetchval("SELECT count(*) FROM invoices") == invoices
        assert len(await _events(other, "2025-01-01")) == summary.invoices
        redone = await other.fetchrow(
            "SELECT invoices, skipped FROM billing_run_items WHERE run_id = $1 AND item_no = 1",
            split.run_id,
        )
        assert redone["invoices"] == 0 and redone["skipped"] > 0
    finally:
        await other.close()
        await pool.close()


async def test_an_item_that_keeps_raising_fails_after_its_attempts(  # type: ignore[no-untyped-def]
    create_database, monkeypatch
) -> None:
    """Not a refusal (a bug, a broken constraint): the item is retried after the others, then
    failed; the run ends ``failed`` with the item's error, its other items billed."""
    pool, _ = await _community(create_database)
    try:
        split = await run_billing(pool, JAN, item_units=ITEM_UNITS)
        bill_item = runs._bill_item

        async def broken(conn, ctx, item, chunk):  # type: ignore[no-untyped-def]
            if item["item_no"] == 3:
                raise RuntimeError("a bug")
            return await bill_item(conn, ctx, item, chunk)

        monkeypatch.setattr(runs, "_bill_item", broken)
        raised = 0
        while True:
            try:
                if not await bill_next_item(pool, chunk=40):
                    break
            except RuntimeError:
                raised += 1
        assert raised == runs.MAX_ATTEMPTS
        summary, errors = await runs.progress(pool, COMMUNITY, split.run_id)
        assert summary.state == "failed"
        assert (summary.items_done, summary.items_failed) == (13, 1)
        assert [e.item_no for e in errors] == [3]
        assert "RuntimeError: a bug" in errors[0].error
        assert summary.invoices == await pool.fetchval(
            "SELECT count(*) FROM invoices WHERE run_id = $1", split.run_id
        )
    finally:
        await pool.close()
