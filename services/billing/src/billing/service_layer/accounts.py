"""Units' accounts: facts in, replay (domain), journal and balances out, events emitted.

Every change to a unit's money (an invoice issued, a payment, a refund, a void, a waiver, a
write-off) re-runs the pure replay over all of that unit's facts under a per-unit lock, then
writes the journal, the credit and the changed invoice balances in the same transaction with
their events. Replaying in business-time order makes the result independent of arrival order.

Everything here works on many units at once: a handful of statements load and write any
number of accounts, so a batch of payments costs about as much SQL as one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.account import (
    AccountError,
    AccountState,
    InvoiceBalance,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    WaiverFact,
    replay,
)
from propfee.consumer import PermanentError
from propfee.events import Event, InvoiceBalanceChanged, InvoiceSettled
from propfee.events.billing import BalanceChangeReason
from propfee.late_fees import LateFeeTerms
from propfee.outbox import add_events


@dataclass(frozen=True)
class ChangeContext:
    reason: BalanceChangeReason
    note: str | None = None
    approved_by: str | None = None
    credit_note_no: str | None = None


@dataclass
class Account:
    """A unit's facts and their replay."""

    unit_id: str
    invoices: list[asyncpg.Record]
    state: AccountState
    terms: LateFeeTerms
    tz: ZoneInfo


async def lock_units(conn: asyncpg.Connection, unit_ids: Sequence[str]) -> None:
    """Per-unit transaction locks, taken in a fixed order so batches never deadlock."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('billing-account:' || u)) "
        "FROM (SELECT DISTINCT u FROM unnest($1::text[]) AS x(u) ORDER BY u) AS s",
        list(unit_ids),
    )


def _group(rows: list[asyncpg.Record]) -> dict[str, list[asyncpg.Record]]:
    grouped: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        grouped[row["unit_id"]].append(row)
    return grouped


async def load_accounts(conn: asyncpg.Connection, unit_ids: Sequence[str]) -> dict[str, Account]:
    """Read every fact of the units (five statements) and replay each; unknown units are left
    out. A fact that cannot be replayed (a refund beyond its payment) is a permanent error."""
    ids = list(dict.fromkeys(unit_ids))
    terms_rows = await conn.fetch(
        "SELECT u.unit_id, c.late_fee_daily_rate, c.late_fee_annual_cap, c.allocation_order, "
        "c.time_zone FROM units u JOIN communities c USING (community_id) "
        "WHERE u.unit_id = ANY($1::text[])",
        ids,
    )
    invoices = _group(
        await conn.fetch(
            "SELECT invoice_id, community_id, unit_id, payer_party_id, period_start, due_date, "
            "issued_at, total_fen, voided_at, written_off_at, principal_paid_fen, "
            "late_fee_paid_fen, late_fee_waived_fen, late_fee_fixed_fen, status, settled_at, "
            "version, late_fee_assessed_fen FROM invoices WHERE unit_id = ANY($1::text[])",
            ids,
        )
    )
    payments = _group(
        await conn.fetch(
            "SELECT unit_id, payment_id, amount_fen, paid_at, invoice_ids FROM payments_received "
            "WHERE unit_id = ANY($1::text[])",
            ids,
        )
    )
    refunds = _group(
        await conn.fetch(
            "SELECT unit_id, refund_id, payment_id, amount_fen, refunded_at FROM refunds_received "
            "WHERE unit_id = ANY($1::text[])",
            ids,
        )
    )
    waivers = _group(
        await conn.fetch(
            "SELECT unit_id, invoice_id, amount_fen, waived_at FROM late_fee_waivers "
            "WHERE unit_id = ANY($1::text[])",
            ids,
        )
    )
    accounts = {}
    for t in terms_rows:
        unit = t["unit_id"]
        terms = LateFeeTerms(t["late_fee_daily_rate"], t["late_fee_annual_cap"])
        tz = ZoneInfo(t["time_zone"])
        known = {p["payment_id"] for p in payments[unit]}
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
                    for r in invoices[unit]
                ],
                [
                    PaymentFact(
                        p["payment_id"], p["amount_fen"], p["paid_at"], tuple(p["invoice_ids"])
                    )
                    for p in payments[unit]
                ],
                [
                    RefundFact(r["refund_id"], r["payment_id"], r["amount_fen"], r["refunded_at"])
                    for r in refunds[unit]
                    if r["payment_id"] in known  # a refund that came before its payment waits
                ],
                [
                    WaiverFact(w["invoice_id"], w["amount_fen"], w["waived_at"])
                    for w in waivers[unit]
                ],
                terms=terms,
                order=t["allocation_order"],
                tz=tz,
            )
        except AccountError as exc:
            raise PermanentError(f"unit {unit}: {exc}") from exc
        accounts[unit] = Account(unit, invoices[unit], state, terms, tz)
    return accounts


async def load_account(conn: asyncpg.Connection, unit_id: str) -> Account | None:
    return (await load_accounts(conn, [unit_id])).get(unit_id)


async def recompute_accounts(
    conn: asyncpg.Connection, unit_ids: Sequence[str], at: datetime, change: ChangeContext
) -> None:
    """Replay the units' accounts and persist what changed (caller holds the transaction).

    A unit billing does not know yet (a payment that came first) is skipped: its facts wait.
    """
    if not unit_ids:
        return
    await lock_units(conn, unit_ids)
    accounts = await load_accounts(conn, unit_ids)
    if not accounts:
        return
    units = list(accounts)
    journal = [
        (a.unit_id, n, x) for a in accounts.values() for n, x in enumerate(a.state.allocations, 1)
    ]
    await conn.execute("DELETE FROM allocations WHERE unit_id = ANY($1::text[])", units)
    await conn.execute(
        "INSERT INTO allocations (unit_id, seq, payment_id, invoice_id, component, amount_fen, at) "
        "SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], "
        "$6::bigint[], $7::timestamptz[])",
        [u for u, _, _ in journal],
        [n for _, n, _ in journal],
        [x.payment_id for _, _, x in journal],
        [x.invoice_id for _, _, x in journal],
        [x.component for _, _, x in journal],
        [x.amount_fen for _, _, x in journal],
        [x.at for _, _, x in journal],
    )
    credits = [
        (a.unit_id, p, fen)
        for a in accounts.values()
        for p, fen in a.state.credit.items()
        if fen > 0
    ]
    await conn.execute("DELETE FROM account_credits WHERE unit_id = ANY($1::text[])", units)
    await conn.execute(
        "INSERT INTO account_credits (unit_id, payment_id, credit_fen) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])",
        [u for u, _, _ in credits],
        [p for _, p, _ in credits],
        [c for _, _, c in credits],
    )
    await _write_balances(conn, list(accounts.values()), at, change)


async def recompute_account(
    conn: asyncpg.Connection, unit_id: str, at: datetime, change: ChangeContext
) -> None:
    await recompute_accounts(conn, [unit_id], at, change)


def _snapshot(b: InvoiceBalance) -> tuple[object, ...]:
    return (
        b.principal_paid_fen,
        b.late_fee_paid_fen,
        b.late_fee_waived_fen,
        b.late_fee_fixed_fen,
        b.status,
        b.settled_at,
    )


async def _write_balances(
    conn: asyncpg.Connection, accounts: list[Account], at: datetime, change: ChangeContext
) -> None:
    changed: list[tuple[Account, asyncpg.Record, InvoiceBalance]] = []
    for account in accounts:
        for row in account.invoices:
            b = account.state.invoices[row["invoice_id"]]
            old = (
                row["principal_paid_fen"],
                row["late_fee_paid_fen"],
                row["late_fee_waived_fen"],
                row["late_fee_fixed_fen"],
                row["status"],
                row["settled_at"],
            )
            if _snapshot(b) != old:
                changed.append((account, row, b))
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
        [r["invoice_id"] for _, r, _ in changed],
        [b.principal_paid_fen for _, _, b in changed],
        [b.late_fee_paid_fen for _, _, b in changed],
        [b.late_fee_waived_fen for _, _, b in changed],
        [b.late_fee_fixed_fen for _, _, b in changed],
        [b.status for _, _, b in changed],
        [b.settled_at for _, _, b in changed],
    )
    version_of = {v["invoice_id"]: v["version"] for v in versions}
    events: list[tuple[Event, str, str]] = []
    for account, row, b in changed:
        version = version_of[row["invoice_id"]]
        today = at.astimezone(account.tz).date()
        # model_construct: every value here is computed and typed by this module; validating
        # thousands of them again per batch of payments is pure overhead.
        events.append(
            (
                InvoiceBalanceChanged.model_construct(
                    invoice_id=row["invoice_id"],
                    community_id=row["community_id"],
                    unit_id=row["unit_id"],
                    payer_party_id=row["payer_party_id"],
                    balance_version=version,
                    status=b.status,
                    due_date=row["due_date"],
                    total_fen=row["total_fen"],
                    principal_paid_fen=b.principal_paid_fen,
                    principal_outstanding_fen=0
                    if b.status == "void"
                    else max(b.principal_due_fen, 0),
                    late_fee_fen=b.late_fee_accrued(today, account.terms),
                    late_fee_paid_fen=b.late_fee_paid_fen,
                    late_fee_waived_fen=b.late_fee_waived_fen,
                    reason=change.reason,
                    note=change.note,
                    approved_by=change.approved_by,
                    credit_note_no=change.credit_note_no,
                    changed_at=at,
                ),
                row["unit_id"],
                row["invoice_id"],
            )
        )
        if b.status == "paid" and row["status"] != "paid":
            payment_ids = sorted(
                {
                    a.payment_id
                    for a in account.state.allocations
                    if a.invoice_id == row["invoice_id"]
                }
            )
            settled = InvoiceSettled.model_construct(
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
            events.append((settled, row["unit_id"], row["invoice_id"]))
    await add_events(conn, events, time=at)
