"""Billing's invoices and balances handled a run at a time (batch handlers, set-based SQL)
leave exactly the state that handling them one by one leaves: receivables, cases (opened,
held, lifted, closed), limitation restarts and the published clocks.

Both databases get the same records through the real consumer: one as the consumer batches
a partition's records (runs of one type through the batch handlers, inbox dedupe), the
other record by record through the per-event handlers as they were before (the reference,
reference_handlers.py)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from dunning.entrypoints.events import BATCH_HANDLERS, HANDLERS
from propfee.cloudevents import CloudEvent
from propfee.consumer import EventConsumer
from propfee.db import create_pool, migrate_database
from propfee.events import (
    Event,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    LateFeeBasis,
)
from services.dunning.tests.integration import reference_handlers
from services.dunning.tests.integration.support import (
    at,
    community,
    feed,
    invoice,
    payment,
    settled,
)


def balance(
    inv: InvoiceIssued, version: int, paid_fen: int, when: str, reason: str = "payment"
) -> InvoiceBalanceChanged:
    left = inv.total_fen - paid_fen
    status = "paid" if left == 0 else "partially_paid" if paid_fen else "issued"
    return InvoiceBalanceChanged(
        invoice_id=inv.invoice_id, community_id=inv.community_id, unit_id=inv.unit_id,
        payer_party_id=inv.payer_party_id, balance_version=version, status=status,
        due_date=inv.due_date, total_fen=inv.total_fen, principal_paid_fen=paid_fen,
        principal_outstanding_fen=left, late_fee_fen=120, late_fee_paid_fen=20,
        reason=reason, changed_at=at(when),
        late_fee_basis=LateFeeBasis(
            daily_rate=Decimal("0.0005"), annual_cap=Decimal("1"), starts_on=inv.due_date,
            through=inv.due_date + timedelta(days=3), fen_days=3 * left,
            principal_outstanding_fen=left,
        ),
    )  # fmt: skip


def stream() -> list[Event]:
    """Several households' events in one partition's order, with what makes batching hard."""
    due = date(2026, 1, 31)
    a1 = invoice("u1", due, invoice_id="a1", issued_at=at("2026-01-01 08:00"))
    a2 = invoice("u1", due, 5_000, invoice_id="a2", issued_at=at("2026-01-01 08:00"))
    b1 = invoice("u2", due, invoice_id="b1", issued_at=at("2026-01-01 08:00"),
                 liable_party_ids=["p-u2", "owner-u2"], kind="regular")  # fmt: skip
    c1 = invoice("u3", due, invoice_id="c1", issued_at=at("2026-01-01 08:00"))
    # Re-issued with a later due date in the same run (the clock moves).
    c1b = c1.model_copy(update={"due_date": due + timedelta(days=10), "room_label": "9-9-9"})
    d1 = invoice("u4", due, invoice_id="d1", issued_at=at("2026-01-01 09:00"))
    e1 = invoice("u5", due, invoice_id="e1", issued_at=at("2026-01-01 09:00"))
    # Settled (billing's InvoiceSettled) before dunning hears of its issue: no case for it.
    g1 = invoice("u6", due, invoice_id="g1", issued_at=at("2026-01-01 09:00"))
    return [
        payment("u1", at("2026-01-01 07:30")),  # seen before the case: it holds it
        payment("u3", at("2026-01-01 07:45")),
        # d1's balance arrives before its issue: the invoice is first known from it.
        balance(d1, 1, 1_000, "2026-01-01 08:30"),
        settled(g1, at("2026-01-01 08:45"), version=1),
        a1, a2, b1, c1, c1b, d1, e1, g1,
        # Balances: a part payment then the rest of one invoice in one run; an older version
        # arriving late; a balance of another unit in between.
        balance(a1, 2, 10_000, "2026-02-02 10:00"),
        balance(b1, 2, 27_580, "2026-02-02 10:05"),
        balance(a1, 3, 27_580, "2026-02-03 10:00"),
        balance(a1, 2, 10_000, "2026-02-02 10:00"),
        balance(a2, 2, 5_000, "2026-02-03 11:00", reason="credit"),
        balance(e1, 2, 1_000, "2026-02-04 11:00", reason="recompute"),
        # u1 is paid up: its case closes; then a new invoice of u1 opens another.
        invoice("u1", due + timedelta(days=28), invoice_id="a3", issued_at=at("2026-02-05 08:00")),
        balance(c1b, 2, 100, "2026-02-06 12:00"),  # part paid: u3's hold lifts, still owes
        # A run of settlements: e1 and d1 paid (their cases close), e1's twice (versions).
        settled(e1, at("2026-02-07 09:00"), version=3),
        settled(d1, at("2026-02-07 09:05"), version=2),
        settled(e1, at("2026-02-07 09:00"), version=3),
    ]  # fmt: skip


def records(events: list[Event]) -> list[ConsumerRecord[bytes, bytes]]:
    envelopes = []
    for event in events:
        envelope = CloudEvent.new(
            type=event.ce_type(), source=event.ce_source(), subject="s", data=event.to_json(),
            time=at("2026-01-01 00:00"),
        )  # fmt: skip
        envelopes.append((str(getattr(event, "unit_id", "")).encode(), envelope))
    # A redelivered record (the same event id) inside the run of issues: handled once.
    envelopes.insert(10, envelopes[7])
    return [
        ConsumerRecord(
            "billing", 0, n, 0, 0, key, e.data, None, len(key), len(e.data), e.kafka_headers()
        )
        for n, (key, e) in enumerate(envelopes)
    ]


#: One by one: the per-event handlers as they were before the batch handlers.
REFERENCE = {
    **HANDLERS,
    InvoiceIssued: reference_handlers.on_invoice_issued,
    InvoiceSettled: reference_handlers.on_invoice_settled,
    InvoiceBalanceChanged: reference_handlers.on_invoice_balance_changed,
}


def consumer(pool: asyncpg.Pool, *, batched: bool) -> EventConsumer:
    return EventConsumer(
        group="dunning",
        bootstrap_servers="unused:9092",
        pool=pool,
        handlers=HANDLERS if batched else REFERENCE,
        batch_handlers=BATCH_HANDLERS if batched else None,
        dlq_producer=None,  # type: ignore[arg-type]  # nothing is dead-lettered here
        max_attempts=1,
    )


async def state(pool: asyncpg.Pool) -> dict[str, Any]:
    receivables = await pool.fetch("SELECT * FROM receivables ORDER BY invoice_id")
    cases = await pool.fetch(
        "SELECT unit_id, community_id, payer_party_id, status, opened_at, closed_at, on_hold, "
        "hold_payment_id, hold_since, close_reason, room_label FROM arrears_cases "
        "ORDER BY unit_id, opened_at, status"
    )
    restarts = await pool.fetch("SELECT * FROM limitation_restarts ORDER BY 1, 2, 3, 4")
    clocks = await pool.fetch(
        "SELECT message_key, payload FROM outbox WHERE topic = 'dunning.limitation-clock-changed' "
        "ORDER BY id"
    )
    per_key: dict[str, list[bytes]] = {}
    for row in clocks:
        per_key.setdefault(row["message_key"], []).append(bytes(row["payload"]))
    return {
        "receivables": [{k: v for k, v in r.items() if k != "updated_at"} for r in receivables],
        "cases": [dict(r) for r in cases],
        "restarts": [dict(r) for r in restarts],
        "clocks": per_key,
        "inbox": await pool.fetchval("SELECT count(*) FROM inbox"),
    }


@pytest.mark.asyncio
async def test_a_batch_of_invoice_events_leaves_what_one_by_one_leaves(
    create_database,  # type: ignore[no-untyped-def]
) -> None:
    pools = []
    for _ in range(2):
        url = await create_database("dunning")
        await migrate_database(url, "dunning")
        pool = await create_pool(url, min_size=1, max_size=2)
        await feed(pool, community("c-1"))
        pools.append(pool)
    one_by_one, batched = pools
    try:
        todo = records(stream())
        single = consumer(one_by_one, batched=False)
        for record in todo:
            await single._process(record)
        runs = consumer(batched, batched=True)

        async def no_fallback(record: ConsumerRecord[bytes, bytes]) -> None:
            raise AssertionError("a run failed and fell back to one record at a time")

        runs._process = no_fallback  # type: ignore[method-assign]
        offset = await runs._process_partition(todo)
        assert offset == todo[-1].offset + 1

        expected, got = await state(one_by_one), await state(batched)
        assert got["inbox"] == expected["inbox"] == len(todo) - 1  # the twin: once
        assert got == expected
        # The stream did what it was meant to: u1's first case closed, a new one open and
        # held by nothing; u2 paid; u3 and u4, u5 owe.
        cases = {(c["unit_id"], c["status"]) for c in expected["cases"]}
        assert ("u1", "closed") in cases and ("u1", "open") in cases
        assert ("u2", "closed") in cases
        assert {("u3", "open"), ("u4", "closed"), ("u5", "closed")} <= cases
        assert not any(c["unit_id"] == "u6" for c in expected["cases"])
        u3 = next(c for c in expected["cases"] if c["unit_id"] == "u3")
        assert u3["hold_payment_id"] and not u3["on_hold"]  # held at opening, then lifted
        assert expected["restarts"]  # part payments restarted clocks
        assert len(expected["clocks"]) >= 4
    finally:
        for pool in pools:
            await pool.close()


def test_rounds_keep_each_household_in_order() -> None:
    from dunning.service_layer.handlers import _rounds

    due = date(2026, 1, 31)
    a = invoice("u1", due, invoice_id=f"x-{uuid.uuid4().hex[:4]}")
    b = invoice("u2", due)
    c = invoice("u1", due)
    rounds = _rounds([a, b, c, a])
    assert [[e.invoice_id for e in r] for r in rounds] == [
        [a.invoice_id, b.invoice_id],
        [c.invoice_id],
        [a.invoice_id],
    ]
