"""Payments' read model of billing's invoices: what a household owes, to fix order amounts.

Issued, settled and balance-changed events may arrive in any order; each upserts the same row
and the result is the same whatever the order: the issued event brings the invoice's terms
(collection, ``interest_from``), the balance with the highest ``balance_version`` wins, and a
settlement closes the invoice unless a newer balance reopened it (a refund).

What is owed is computed, not stored: ``domain.owed.amount_owed`` over the basis built here
(``domain.owed.accrual_basis``) for the community's local day.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from payments.domain.advance import AdvanceCap, RegularInvoice
from payments.domain.owed import OpenInvoice, accrual_basis
from propfee.consumer import EventContext
from propfee.events import InvoiceBalanceChanged, InvoiceIssued, InvoiceSettled, LateFeeBasis
from propfee.late_fees import DEFAULT_ANNUAL_CAP, LateFeeTerms

#: The opening-arrears line of imported invoices (billing's ledger import).
OPENING_ARREARS = "opening_arrears"


async def invoice_issued(
    conn: asyncpg.Connection, event: InvoiceIssued, context: EventContext
) -> None:
    # Only a billing run's invoice is a regular charge (the advance cap's monthly charge);
    # before billing said so (``kind``), imported opening arrears were told by their line.
    if event.kind is not None:
        opening = event.kind != "regular"
    else:
        opening = any(line.fee_item == OPENING_ARREARS for line in event.lines)
    await conn.execute(
        "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, total_fen, "
        "due_date, period_start, period_end, room_label, issued_at, collection, "
        "interest_from, schedule_version) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (invoice_id) DO UPDATE SET due_date = EXCLUDED.due_date, "
        "period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, "
        "room_label = EXCLUDED.room_label, issued_at = EXCLUDED.issued_at, "
        "total_fen = EXCLUDED.total_fen, collection = EXCLUDED.collection, "
        "interest_from = EXCLUDED.interest_from, schedule_version = EXCLUDED.schedule_version",
        event.invoice_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        event.total_fen,
        event.due_date,
        event.period_start,
        event.period_end,
        event.room_label,
        event.issued_at,
        event.collection or "property",
        event.interest_from,
        None if opening else event.schedule_version,
    )


async def invoice_settled(
    conn: asyncpg.Connection, event: InvoiceSettled, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, total_fen, "
        "settled_at, settled_version) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (invoice_id) DO UPDATE SET settled_at = EXCLUDED.settled_at, "
        "settled_version = GREATEST(invoices.settled_version, EXCLUDED.settled_version)",
        event.invoice_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        event.total_fen,
        event.settled_at,
        event.balance_version,
    )


async def invoice_balance_changed(
    conn: asyncpg.Connection, event: InvoiceBalanceChanged, context: EventContext
) -> None:
    """Keep the highest ``balance_version`` of each invoice, whatever the arrival order."""
    basis = event.late_fee_basis.model_dump(mode="json") if event.late_fee_basis else None
    await conn.execute(
        "INSERT INTO invoices (invoice_id, community_id, unit_id, payer_party_id, total_fen, "
        "due_date, balance_version, status, principal_paid_fen, principal_outstanding_fen, "
        "late_fee_fen, late_fee_paid_fen, late_fee_waived_fen, late_fee_basis, time_barred, "
        "collection) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
        "ON CONFLICT (invoice_id) DO UPDATE SET balance_version = EXCLUDED.balance_version, "
        "status = EXCLUDED.status, principal_paid_fen = EXCLUDED.principal_paid_fen, "
        "principal_outstanding_fen = EXCLUDED.principal_outstanding_fen, "
        "late_fee_fen = EXCLUDED.late_fee_fen, late_fee_paid_fen = EXCLUDED.late_fee_paid_fen, "
        "late_fee_waived_fen = EXCLUDED.late_fee_waived_fen, "
        "late_fee_basis = EXCLUDED.late_fee_basis, time_barred = EXCLUDED.time_barred, "
        "collection = coalesce(EXCLUDED.collection, invoices.collection) "
        "WHERE invoices.balance_version IS NULL "
        "   OR invoices.balance_version < EXCLUDED.balance_version",
        event.invoice_id,
        event.community_id,
        event.unit_id,
        event.payer_party_id,
        event.total_fen,
        event.due_date,
        event.balance_version,
        event.status,
        event.principal_paid_fen,
        event.principal_outstanding_fen,
        event.late_fee_fen,
        event.late_fee_paid_fen,
        event.late_fee_waived_fen,
        basis,
        event.time_barred,
        event.collection,
    )


#: The invoice's state from what payments was told: a settlement closes it unless a newer
#: balance change (a refund) reopened it; a balance change says paid, void or written off.
_STATE = """
CASE WHEN i.settled_at IS NOT NULL AND (i.settled_version IS NULL OR i.balance_version IS NULL
                                        OR i.balance_version <= i.settled_version) THEN 'paid'
     WHEN i.status IN ('paid', 'void', 'written_off') THEN i.status
     ELSE 'open' END
"""

_UNIT_INVOICES = f"""
SELECT i.invoice_id, i.community_id, i.unit_id, i.payer_party_id, i.total_fen,
       i.collection, i.interest_from, i.balance_version, i.principal_outstanding_fen,
       i.late_fee_fen, i.late_fee_paid_fen, i.late_fee_waived_fen, i.late_fee_basis,
       i.time_barred, {_STATE} AS state,
       c.late_fee_daily_rate, c.late_fee_annual_cap
  FROM invoices i LEFT JOIN communities c USING (community_id)
 WHERE i.unit_id = $1 AND i.issued_at IS NOT NULL
 ORDER BY i.due_date, i.invoice_id
"""


def _published(data: dict[str, Any] | None) -> LateFeeBasis | None:
    """The basis billing published, as stored (the event's own JSON form)."""
    return LateFeeBasis.model_validate(data) if data else None


def _invoice(row: asyncpg.Record) -> OpenInvoice:
    terms = None
    if row["late_fee_daily_rate"] is not None:
        terms = LateFeeTerms(
            row["late_fee_daily_rate"], row["late_fee_annual_cap"] or DEFAULT_ANNUAL_CAP
        )
    balance_known = row["balance_version"] is not None
    return OpenInvoice(
        invoice_id=row["invoice_id"],
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        payer_party_id=row["payer_party_id"],
        total_fen=row["total_fen"],
        principal_outstanding_fen=row["principal_outstanding_fen"] if balance_known else None,
        late_fee_paid_fen=row["late_fee_paid_fen"] or 0,
        late_fee_waived_fen=row["late_fee_waived_fen"] or 0,
        basis=accrual_basis(
            total_fen=row["total_fen"],
            interest_from=row["interest_from"],
            community_terms=terms,
            balance_known=balance_known,
            published=_published(row["late_fee_basis"]),
            reported_late_fee_fen=row["late_fee_fen"] or 0,
        ),
        collection="utilities" if row["collection"] == "utilities" else "property",
        state=row["state"],
        time_barred=bool(row["time_barred"]),
    )


async def unit_invoices(conn: asyncpg.Connection, unit_id: str) -> dict[str, OpenInvoice]:
    """Every issued invoice of the unit payments knows, open or not, oldest due first."""
    return {r["invoice_id"]: _invoice(r) for r in await conn.fetch(_UNIT_INVOICES, unit_id)}


async def open_invoices(conn: asyncpg.Connection, unit_id: str) -> dict[str, OpenInvoice]:
    """The unit's open invoices (issued, not paid, void or written off)."""
    return {k: v for k, v in (await unit_invoices(conn, unit_id)).items() if v.state == "open"}


async def community_time_zone(conn: asyncpg.Connection, community_id: str | None) -> str:
    """The community's time zone (billing.community-updated; Asia/Shanghai until known)."""
    zone: str | None = None
    if community_id is not None:
        zone = await conn.fetchval(
            "SELECT time_zone FROM communities WHERE community_id = $1", community_id
        )
    return zone or "Asia/Shanghai"


async def unit_community(conn: asyncpg.Connection, unit_id: str) -> str | None:
    """The community of a unit's invoices (None: no invoice known)."""
    community: str | None = await conn.fetchval(
        "SELECT community_id FROM invoices WHERE unit_id = $1 LIMIT 1", unit_id
    )
    return community


async def latest_regular_invoice(conn: asyncpg.Connection, unit_id: str) -> RegularInvoice | None:
    """The unit's latest regular property invoice: a fee schedule's (not imported opening
    arrears), not utilities. Its total per month of its period is the monthly charge."""
    row = await conn.fetchrow(
        "SELECT period_start, period_end, total_fen FROM invoices "
        "WHERE unit_id = $1 AND issued_at IS NOT NULL AND schedule_version IS NOT NULL "
        "AND coalesce(collection, 'property') = 'property' AND period_start IS NOT NULL "
        "AND period_end IS NOT NULL AND total_fen > 0 "
        "ORDER BY period_start DESC, period_end DESC, invoice_id DESC LIMIT 1",
        unit_id,
    )
    if row is None:
        return None
    return RegularInvoice(row["period_start"], row["period_end"], row["total_fen"])


async def advance_cap(conn: asyncpg.Connection, community_id: str) -> AdvanceCap:
    row = await conn.fetchrow(
        "SELECT advance_cap_months, contract_end FROM communities WHERE community_id = $1",
        community_id,
    )
    if row is None or row["advance_cap_months"] is None:
        return AdvanceCap(contract_end=row["contract_end"] if row else None)
    return AdvanceCap(row["advance_cap_months"], row["contract_end"])


async def credit_on_account(conn: asyncpg.Connection, unit_id: str) -> int:
    """What the unit's payments left on account as far as payments knows: payments less
    confirmed refunds less what billing reported allocated to its invoices (principal and late
    fee paid of the newest balance; the total of a settled invoice without one). Money billing
    has not allocated yet counts as on account: the cap errs on refusing, never on more."""
    credit: int = await conn.fetchval(
        "SELECT coalesce((SELECT sum(amount_fen) FROM payments WHERE unit_id = $1), 0) "
        "- coalesce((SELECT sum(r.amount_fen) FROM refunds r JOIN payments p USING "
        "(payment_id) WHERE p.unit_id = $1 AND r.status = 'succeeded'), 0) "
        "- coalesce((SELECT sum(CASE WHEN balance_version IS NOT NULL "
        "  THEN coalesce(principal_paid_fen, 0) + coalesce(late_fee_paid_fen, 0) "
        "  WHEN settled_at IS NOT NULL THEN total_fen ELSE 0 END) "
        "  FROM invoices WHERE unit_id = $1), 0)",
        unit_id,
    )
    return max(int(credit), 0)
