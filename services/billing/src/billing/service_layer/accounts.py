"""A unit's account: facts in, replay (domain), journal and balances out, events emitted.

Every change to a unit's money (an invoice issued, a payment, a refund, a void, a waiver, a
write-off) re-runs the pure replay over all of that unit's facts under a per-unit lock, then
writes the journal, the credit and the changed invoice balances in one transaction with their
events. Replaying in business-time order makes the result independent of arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.account import (
    AccountError,
    AccountState,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    WaiverFact,
    replay,
)
from billing.domain.late_fees import LateFeeTerms
from propfee.consumer import PermanentError
from propfee.events import InvoiceBalanceChanged, InvoiceSettled
from propfee.outbox import add_event


@dataclass(frozen=True)
class ChangeContext:
    reason: str
    note: str | None = None
    approved_by: str | None = None
    credit_note_no: str | None = None


async def lock_unit(conn: asyncpg.Connection, unit_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('billing-account:' || $1))", unit_id)


@dataclass
class Account:
    """A unit's facts and their replay."""

    invoices: list[asyncpg.Record]
    state: AccountState
    terms: LateFeeTerms
    tz: ZoneInfo


async def load_account(conn: asyncpg.Connection, unit_id: str) -> Account | None:
    """Read every fact of the unit and replay it (pure); None when billing has no such unit."""
    terms_row = await conn.fetchrow(
        "SELECT c.late_fee_daily_rate, c.late_fee_annual_cap, c.allocation_order, c.time_zone "
        "FROM units u JOIN communities c USING (community_id) WHERE u.unit_id = $1",
        unit_id,
    )
    if terms_row is None:
        return None
    terms = LateFeeTerms(terms_row["late_fee_daily_rate"], terms_row["late_fee_annual_cap"])
    tz = ZoneInfo(terms_row["time_zone"])
    invoices = await conn.fetch(
        "SELECT invoice_id, community_id, unit_id, payer_party_id, period_start, due_date, "
        "issued_at, total_fen, voided_at, written_off_at, principal_paid_fen, late_fee_paid_fen, "
        "late_fee_waived_fen, late_fee_fixed_fen, status, settled_at, version "
        "FROM invoices WHERE unit_id = $1",
        unit_id,
    )
    payments = await conn.fetch(
        "SELECT payment_id, amount_fen, paid_at, invoice_ids FROM payments_received "
        "WHERE unit_id = $1",
        unit_id,
    )
    known = {p["payment_id"] for p in payments}
    refunds = [
        r
        for r in await conn.fetch(
            "SELECT refund_id, payment_id, amount_fen, refunded_at FROM refunds_received "
            "WHERE unit_id = $1",
            unit_id,
        )
        if r["payment_id"] in known  # a refund that arrived before its payment waits for it
    ]
    waivers = await conn.fetch(
        "SELECT invoice_id, amount_fen, waived_at FROM late_fee_waivers WHERE unit_id = $1",
        unit_id,
    )
    try:
        state = replay(
            [
                InvoiceFact(
                    r["invoice_id"],
                    r["due_date"],
                    r["issued_at"],
                    r["total_fen"],
                    r["voided_at"],
                    r["written_off_at"],
                )
                for r in invoices
            ],
            [
                PaymentFact(p["payment_id"], p["amount_fen"], p["paid_at"], tuple(p["invoice_ids"]))
                for p in payments
            ],
            [
                RefundFact(r["refund_id"], r["payment_id"], r["amount_fen"], r["refunded_at"])
                for r in refunds
            ],
            [WaiverFact(w["invoice_id"], w["amount_fen"], w["waived_at"]) for w in waivers],
            terms=terms,
            order=terms_row["allocation_order"],
            tz=tz,
        )
    except AccountError as exc:
        raise PermanentError(str(exc)) from exc
    return Account(list(invoices), state, terms, tz)


async def recompute_account(
    conn: asyncpg.Connection, unit_id: str, at: datetime, change: ChangeContext
) -> None:
    """Replay the unit's account and persist what changed (caller holds the transaction)."""
    await lock_unit(conn, unit_id)
    account = await load_account(conn, unit_id)
    if account is None:
        return  # a payment for a unit billing does not know yet: kept until the unit exists
    state = account.state
    await conn.execute("DELETE FROM allocations WHERE unit_id = $1", unit_id)
    journal = state.allocations
    await conn.execute(
        "INSERT INTO allocations (unit_id, seq, payment_id, invoice_id, component, amount_fen, at) "
        "SELECT $1, s, p, i, c, a, t FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], "
        "$6::bigint[], $7::timestamptz[]) AS x(s, p, i, c, a, t)",
        unit_id,
        list(range(1, len(journal) + 1)),
        [a.payment_id for a in journal],
        [a.invoice_id for a in journal],
        [a.component for a in journal],
        [a.amount_fen for a in journal],
        [a.at for a in journal],
    )
    await conn.execute("DELETE FROM account_credits WHERE unit_id = $1", unit_id)
    credits = [(p, fen) for p, fen in state.credit.items() if fen > 0]
    await conn.execute(
        "INSERT INTO account_credits (unit_id, payment_id, credit_fen) "
        "SELECT $1, p, c FROM unnest($2::text[], $3::bigint[]) AS x(p, c)",
        unit_id,
        [p for p, _ in credits],
        [c for _, c in credits],
    )
    await _write_balances(conn, account.invoices, state, at, account.tz, account.terms, change)


async def _write_balances(
    conn: asyncpg.Connection,
    rows: list[asyncpg.Record],
    state: AccountState,
    at: datetime,
    tz: ZoneInfo,
    terms: LateFeeTerms,
    change: ChangeContext,
) -> None:
    changed = []
    for row in rows:
        b = state.invoices[row["invoice_id"]]
        new = (
            b.principal_paid_fen,
            b.late_fee_paid_fen,
            b.late_fee_waived_fen,
            b.late_fee_fixed_fen,
            b.status,
            b.settled_at,
        )
        old = (
            row["principal_paid_fen"],
            row["late_fee_paid_fen"],
            row["late_fee_waived_fen"],
            row["late_fee_fixed_fen"],
            row["status"],
            row["settled_at"],
        )
        if new != old:
            changed.append((row, b))
    if not changed:
        return
    versions = await conn.fetch(
        """
        UPDATE invoices AS i
           SET principal_paid_fen = x.pp, late_fee_paid_fen = x.lp, late_fee_waived_fen = x.lw,
               late_fee_fixed_fen = x.lf, status = x.st, settled_at = x.sa, version = i.version + 1
          FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                      $6::text[], $7::timestamptz[]) AS x(id, pp, lp, lw, lf, st, sa)
         WHERE i.invoice_id = x.id
        RETURNING i.invoice_id, i.version
        """,
        [r["invoice_id"] for r, _ in changed],
        [b.principal_paid_fen for _, b in changed],
        [b.late_fee_paid_fen for _, b in changed],
        [b.late_fee_waived_fen for _, b in changed],
        [b.late_fee_fixed_fen for _, b in changed],
        [b.status for _, b in changed],
        [b.settled_at for _, b in changed],
    )
    version_of = {v["invoice_id"]: v["version"] for v in versions}
    today = at.astimezone(tz).date()
    for row, b in changed:
        version = version_of[row["invoice_id"]]
        event = InvoiceBalanceChanged(
            invoice_id=row["invoice_id"],
            community_id=row["community_id"],
            unit_id=row["unit_id"],
            payer_party_id=row["payer_party_id"],
            balance_version=version,
            status=b.status,
            due_date=row["due_date"],
            total_fen=row["total_fen"],
            principal_paid_fen=b.principal_paid_fen,
            principal_outstanding_fen=max(b.principal_due_fen, 0) if b.status != "void" else 0,
            late_fee_fen=b.late_fee_accrued(today, terms),
            late_fee_paid_fen=b.late_fee_paid_fen,
            late_fee_waived_fen=b.late_fee_waived_fen,
            reason=change.reason,
            note=change.note,
            approved_by=change.approved_by,
            credit_note_no=change.credit_note_no,
            changed_at=at,
        )
        await add_event(conn, event, key=row["unit_id"], subject=row["invoice_id"], time=at)
        if b.status == "paid" and row["status"] != "paid":
            payment_ids = sorted(
                {a.payment_id for a in state.allocations if a.invoice_id == row["invoice_id"]}
            )
            settled = InvoiceSettled(
                invoice_id=row["invoice_id"],
                community_id=row["community_id"],
                unit_id=row["unit_id"],
                payer_party_id=row["payer_party_id"],
                total_fen=row["total_fen"],
                paid_fen=b.principal_paid_fen + b.late_fee_paid_fen,
                payment_ids=payment_ids,
                settled_at=b.settled_at or at,
                balance_version=version,
            )
            await add_event(conn, settled, key=row["unit_id"], subject=row["invoice_id"], time=at)
