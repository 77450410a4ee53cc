"""The invoice read model converges whatever the arrival order (real PostgreSQL): the highest
``balance_version`` wins, a settlement closes an invoice unless a newer balance reopened it
(a refund), and what an order asks is the same in every order of arrival."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from payments.domain.owed import amount_owed
from payments.service_layer import invoices
from propfee.db import create_pool, migrate_database
from propfee.events import InvoiceBalanceChanged, InvoiceIssued, InvoiceSettled, LateFeeBasis

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 1, tzinfo=UTC)
DAY = date(2026, 3, 11)  # paid on the 11th: the fee to the 10th


def _issued() -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id="inv-1",
        community_id="c-1",
        building_id="b",
        unit_id="u-1",
        payer_party_id="p-1",
        period_start=date(2026, 2, 1),
        period_end=date(2026, 2, 28),
        due_date=date(2026, 2, 28),
        lines=[],
        total_fen=27580,
        issued_at=AT,
        schedule_version="1",
        interest_from=date(2026, 3, 1),
    )


def _balance(version: int, outstanding: int, status: str, **kw: Any) -> InvoiceBalanceChanged:
    data: dict[str, Any] = dict(
        invoice_id="inv-1",
        community_id="c-1",
        unit_id="u-1",
        payer_party_id="p-1",
        balance_version=version,
        status=status,
        due_date=date(2026, 2, 28),
        total_fen=27580,
        principal_paid_fen=27580 - outstanding,
        principal_outstanding_fen=outstanding,
        late_fee_fen=0,
        reason="payment",
        changed_at=AT,
        late_fee_basis=LateFeeBasis(
            daily_rate=Decimal("0.0001"),
            annual_cap=Decimal("0.039"),
            starts_on=date(2026, 3, 1),
            through=date(2026, 3, 4),
            fen_days=3 * 27580 + outstanding,  # paid on the 4th
            principal_outstanding_fen=outstanding,
        ),
    )
    data.update(kw)
    return InvoiceBalanceChanged(**data)


def _settled(version: int | None) -> InvoiceSettled:
    return InvoiceSettled(
        invoice_id="inv-1",
        community_id="c-1",
        unit_id="u-1",
        payer_party_id="p-1",
        total_fen=27580,
        paid_fen=27580,
        settled_at=AT,
        balance_version=version,
    )


async def _apply(pool: Any, events: Any) -> tuple[str, int]:
    handlers = {
        InvoiceIssued: invoices.invoice_issued,
        InvoiceSettled: invoices.invoice_settled,
        InvoiceBalanceChanged: invoices.invoice_balance_changed,
    }
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM invoices")
        for event in events:
            await handlers[type(event)](conn, event, None)
        invoice = (await invoices.unit_invoices(conn, "u-1"))["inv-1"]
    return invoice.state, amount_owed(invoice, DAY)


async def test_the_read_model_converges_in_every_arrival_order(create_database) -> None:  # type: ignore[no-untyped-def]
    db = await create_database("payments")
    await migrate_database(db, "payments")
    pool = await create_pool(db, max_size=2)
    try:
        # Part paid (v1), paid in full and settled (v2), refunded in part (v3): open again.
        # 17580 left since the 4th: 3 x 27580 + 7 x 17580 fen-days to the 10th = 205800
        # x 0.0001 = 20.58 -> 21.
        history = [
            _issued(),
            _balance(1, 17580, "partially_paid"),
            _balance(2, 0, "paid"),
            _settled(2),
            _balance(3, 17580, "partially_paid", reason="refund"),
        ]
        outcomes = {await _apply(pool, order) for order in itertools.permutations(history)}
        assert outcomes == {("open", 17580 + 21)}
        # Without the refund: paid in every order.
        outcomes = {await _apply(pool, order) for order in itertools.permutations(history[:4])}
        assert outcomes == {("paid", 0)}
        # A settlement without a version (an older billing) closes it.
        assert await _apply(pool, [_issued(), _settled(None)]) == ("paid", 0)
        # Written off or void: nothing to order.
        for status in ("void", "written_off"):
            assert await _apply(pool, [_issued(), _balance(4, 0, status)]) == (status, 0)
    finally:
        await pool.close()


async def test_only_a_billing_run_s_invoice_is_the_monthly_charge(create_database) -> None:  # type: ignore[no-untyped-def]
    """The advance cap's monthly charge is the latest regular invoice's: a manual invoice or
    imported arrears issued later (billing says which, ``InvoiceIssued.kind``) are not it."""
    db = await create_database("payments")
    await migrate_database(db, "payments")
    pool = await create_pool(db, max_size=2)
    try:
        regular = _issued().model_copy(update={"kind": "regular"})
        later = {"period_start": date(2026, 3, 1), "period_end": date(2026, 3, 31)}
        manual = _issued().model_copy(
            update={"invoice_id": "inv-m", "kind": "manual", "total_fen": 500000, **later}
        )
        opening = _issued().model_copy(
            update={"invoice_id": "inv-o", "kind": "opening_arrears", "total_fen": 90000, **later}
        )
        async with pool.acquire() as conn:
            for event in (regular, manual, opening):
                await invoices.invoice_issued(conn, event, None)  # type: ignore[arg-type]
            found = await invoices.latest_regular_invoice(conn, "u-1")
        assert found is not None and found.total_fen == 27580
        assert found.period_start == date(2026, 2, 1)
    finally:
        await pool.close()
