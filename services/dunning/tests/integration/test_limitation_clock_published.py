"""Issue 17 rule 5, dunning's side: every change of an invoice's limitation clock goes to the
outbox as LimitationClockChanged (topic dunning.limitation-clock-changed, key the unit id) in
the transaction that makes it, with a per-invoice clock_version; nothing when nothing changed.
Real PostgreSQL, the real handlers."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from dunning.service_layer.limitation import add_restarts, publish_unpublished_clocks
from propfee.events import InvoiceBalanceChanged, InvoiceIssued, LimitationClockChanged
from services.dunning.tests.integration.support import at, case_of, delivered, feed, invoice

pytestmark = pytest.mark.integration

DUE = date(2023, 3, 31)


def part_paid(inv: InvoiceIssued, when: datetime, version: int = 2) -> InvoiceBalanceChanged:
    return InvoiceBalanceChanged(
        invoice_id=inv.invoice_id, community_id=inv.community_id, unit_id=inv.unit_id,
        payer_party_id=inv.payer_party_id, balance_version=version, status="partially_paid",
        due_date=inv.due_date, total_fen=inv.total_fen, principal_paid_fen=10_000,
        principal_outstanding_fen=inv.total_fen - 10_000, late_fee_fen=0, reason="payment",
        changed_at=when,
    )  # fmt: skip


async def clocks(pool: asyncpg.Pool, invoice_id: str | None = None) -> list[dict[str, Any]]:
    """The clock events in the outbox (validated against the contract), oldest first."""
    rows = await pool.fetch(
        "SELECT topic, message_key, headers, payload FROM outbox WHERE topic = $1 ORDER BY id",
        LimitationClockChanged.topic(),
    )
    out = []
    for row in rows:
        event = LimitationClockChanged.model_validate_json(bytes(row["payload"]))
        if invoice_id is None or event.invoice_id == invoice_id:
            headers = dict(row["headers"])
            out.append({"event": event, "key": row["message_key"], "headers": headers})
    return out


async def stored(pool: asyncpg.Pool, invoice_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT limitation_expires_on, limitation_last_restart_on, limitation_clock_version "
        "FROM receivables WHERE invoice_id = $1",
        invoice_id,
    )
    assert row is not None
    return row


async def test_issued_then_restarted_then_the_same_restart_again(pool: asyncpg.Pool) -> None:
    inv = invoice("4001", DUE, total_fen=600_000, issued_at=at("2023-03-01 09:00"))
    await feed(pool, inv)
    [first] = await clocks(pool)
    assert first["event"].model_dump() == {
        "invoice_id": inv.invoice_id, "community_id": "c-1", "unit_id": "4001",
        "due_date": DUE, "expires_on": date(2026, 3, 31), "clock_version": 1,
        "last_restart_on": None, "changed_at": at("2023-03-01 09:00"),
    }  # fmt: skip
    assert first["key"] == "4001"
    assert first["headers"]["ce_type"] == "propfee.dunning.LimitationClockChanged.v1"
    assert first["headers"]["ce_subject"] == inv.invoice_id

    # A part payment restarts the clock: version 2, the later expiry.
    await feed(pool, part_paid(inv, at("2025-01-05 10:00")))
    events = [c["event"] for c in await clocks(pool)]
    assert [(e.clock_version, e.expires_on, e.last_restart_on) for e in events] == [
        (1, date(2026, 3, 31), None),
        (2, date(2028, 1, 5), date(2025, 1, 5)),
    ]
    # The same restart again (a redelivery past the inbox, a replay): nothing new.
    await feed(pool, part_paid(inv, at("2025-01-05 10:00")))
    # A delivered demand from before the part payment, learnt late: the clock stays, so
    # nothing is published either.
    case = await case_of(pool, "4001")
    await feed(pool, delivered(case["case_id"], "4001", "reminder", at("2024-05-10 12:00")))
    assert len(await clocks(pool)) == 2
    # A delivered demand after it moves the clock again.
    await feed(pool, delivered(case["case_id"], "4001", "reminder", at("2025-06-02 12:00")))
    last = (await clocks(pool))[-1]["event"]
    assert (last.clock_version, last.expires_on, last.last_restart_on) == (
        3, date(2028, 6, 2), date(2025, 6, 2),
    )  # fmt: skip
    assert last.changed_at == at("2025-06-02 12:00")
    row = await stored(pool, inv.invoice_id)
    assert tuple(row) == (date(2028, 6, 2), date(2025, 6, 2), 3)
    assert {c["key"] for c in await clocks(pool)} == {"4001"}


async def test_restarts_in_any_order_end_on_the_same_clock(pool: asyncpg.Pool) -> None:
    """The same three restarts learnt in two orders: the highest version carries the final
    clock either way, and nothing is published for a restart that changes nothing."""
    restarts = [
        ("payment_plan", date(2025, 3, 1)),
        ("acknowledgement", date(2024, 1, 10)),
        ("delivered_demand", date(2027, 1, 1)),
    ]
    finals = []
    for unit, order in (("4002", restarts), ("4003", restarts[::-1])):
        inv = invoice(unit, DUE)
        await feed(pool, inv)
        for n, (kind, on) in enumerate(order):
            async with pool.acquire() as conn, conn.transaction():
                await add_restarts(
                    conn, [(inv.invoice_id, kind, on, f"src-{n}")], at=at("2027-01-02 09:00")
                )
        events = [c["event"] for c in await clocks(pool, inv.invoice_id)]
        versions = [e.clock_version for e in events]
        assert versions == list(range(1, len(events) + 1))
        finals.append((events[-1].expires_on, events[-1].last_restart_on))
        assert (await stored(pool, inv.invoice_id))["limitation_clock_version"] == versions[-1]
    assert finals == [(date(2030, 1, 1), date(2027, 1, 1))] * 2


async def test_a_part_payment_before_the_invoice_is_in_version_1(pool: asyncpg.Pool) -> None:
    inv = invoice("4004", DUE)
    await feed(pool, part_paid(inv, at("2025-01-05 10:00")))  # billing's balance came first
    await feed(pool, inv)
    [only] = await clocks(pool)
    assert (only["event"].clock_version, only["event"].expires_on) == (1, date(2028, 1, 5))


async def test_an_invoice_first_known_from_its_balance_gets_its_clock(pool: asyncpg.Pool) -> None:
    inv = invoice("4005", DUE)
    allocated = part_paid(inv, at("2023-04-02 10:00")).model_copy(
        update={"reason": "credit", "status": "partially_paid"}
    )
    await feed(pool, allocated)  # no restart (credit allocation), but the due date is known
    await feed(pool, inv)  # the same due date: nothing changes
    [only] = await clocks(pool)
    assert (only["event"].clock_version, only["event"].expires_on) == (1, date(2026, 3, 31))


async def test_a_changed_due_date_is_a_change(pool: asyncpg.Pool) -> None:
    inv = invoice("4006", date(2024, 2, 29))
    await feed(pool, inv)
    # Re-issued due a day earlier: the expiry stays 2027-02-28, the due date changed.
    await feed(pool, inv.model_copy(update={"due_date": date(2024, 2, 28)}))
    events = [c["event"] for c in await clocks(pool)]
    assert [(e.clock_version, e.due_date, e.expires_on) for e in events] == [
        (1, date(2024, 2, 29), date(2027, 2, 28)),
        (2, date(2024, 2, 28), date(2027, 2, 28)),
    ]


async def test_concurrent_restarts_never_publish_a_stale_clock_last(pool: asyncpg.Pool) -> None:
    """Two transactions learn a restart of one invoice at once: the second waits for the
    first's clock lock, then sees its restart; versions stay unique and the last is right."""
    inv = invoice("4007", DUE)
    await feed(pool, inv)
    when = at("2025-06-01 09:00")
    first = await pool.acquire()
    second = await pool.acquire()
    try:
        tx1 = first.transaction()
        await tx1.start()
        await add_restarts(
            first, [(inv.invoice_id, "part_payment", date(2025, 1, 5), "a")], at=when
        )

        async def later() -> None:
            async with second.transaction():
                await add_restarts(
                    second, [(inv.invoice_id, "acknowledgement", date(2024, 6, 1), "b")], at=when
                )

        waiting = asyncio.create_task(later())
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second writer waits for the first's clock lock"
        await tx1.commit()
        await asyncio.wait_for(waiting, timeout=10)
    finally:
        await pool.release(first)
        await pool.release(second)
    events = [c["event"] for c in await clocks(pool, inv.invoice_id)]
    # The earlier acknowledgement changes nothing once the part payment is seen.
    assert [(e.clock_version, e.expires_on) for e in events] == [
        (1, date(2026, 3, 31)),
        (2, date(2028, 1, 5)),
    ]


async def test_clocks_from_before_publishing_are_published_once(pool: asyncpg.Pool) -> None:
    """A receivable whose clock was computed before migration 0008 (version 0, never
    published) is published by the boot backfill, once."""
    await pool.executemany(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date, "
        "total_fen, issued, limitation_expires_on) VALUES ($1, $2, 'c-1', 'p', $3, 100, true, $4)",
        [("inv-old-1", "4008", DUE, date(2026, 3, 31)), ("inv-old-2", "4009", DUE, None)],
    )
    inv = invoice("4010", DUE)
    await feed(pool, inv)  # published already: the backfill leaves it alone
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert await publish_unpublished_clocks(pool, at=now, batch=1) == 2
    assert await publish_unpublished_clocks(pool, at=now) == 0
    seen = [(c["key"], c["event"].clock_version, c["event"].expires_on) for c in await clocks(pool)]
    assert seen == [
        ("4010", 1, date(2026, 3, 31)),
        ("4008", 1, date(2026, 3, 31)),
        ("4009", 1, date(2026, 3, 31)),
    ]
