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
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.account import (
    AccountError,
    AccountState,
    Allocation,
    InvoiceBalance,
    InvoiceFact,
    PaymentFact,
    RefundFact,
    SaleFact,
    WaiverFact,
    day_end,
    replay,
)
from propfee.consumer import PermanentError
from propfee.events import Event, InvoiceBalanceChanged, InvoiceSettled
from propfee.events.billing import BalanceChangeReason, LateFeeBasis
from propfee.late_fees import LateFeeTerms, late_fee_on
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
    #: The last day the replay covers: ``as_of``, or the day of the later of ``at`` and the
    #: latest fact (a balance change publishes its late fee and basis through this day).
    through: date | None = None


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


_INVOICES = """
SELECT i.invoice_id, i.community_id, i.unit_id, i.payer_party_id, i.period_start, i.due_date,
       i.issued_at, i.total_fen, i.voided_at, i.written_off_at, i.principal_paid_fen,
       i.late_fee_paid_fen, i.late_fee_waived_fen, i.late_fee_fixed_fen, i.status, i.settled_at,
       i.version, i.late_fee_assessed_fen, i.kind, i.collection, i.discount_lapsed_fen,
       i.time_barred, i.limitation_expires_on AS published_expires_on,
       lc.expires_on AS limitation_expires_on,
       coalesce((SELECT -sum(l.amount_fen) FROM invoice_lines l
                  WHERE l.invoice_id = i.invoice_id AND l.fee_item LIKE 'prepay\\_discount\\_%'),
                0)::bigint AS prepay_discount_fen
  FROM invoices i LEFT JOIN limitation_clocks lc USING (invoice_id)
 WHERE i.unit_id = ANY($1::text[])
"""


def invoice_fact(row: asyncpg.Record, utilities_late_fee: bool) -> InvoiceFact:
    """A stored invoice as the replay sees it: utilities bear a late fee only where the
    contract names one for them; a late fee imported from the old system bears none."""
    bears = row["kind"] != "opening_late_fee" and (
        row["collection"] != "utilities" or utilities_late_fee
    )
    return InvoiceFact(
        row["invoice_id"],
        row["due_date"],
        row["issued_at"],
        row["total_fen"],
        row["voided_at"],
        row["written_off_at"],
        collection=row["collection"],
        payer_party_id=row["payer_party_id"],
        bears_late_fee=bears,
        prepay_discount_fen=max(row["prepay_discount_fen"], 0),
        limitation_expires_on=row["limitation_expires_on"],
    )


async def load_accounts(
    conn: asyncpg.Connection,
    unit_ids: Sequence[str],
    *,
    at: datetime | None = None,
    as_of: date | None = None,
) -> dict[str, Account]:
    """Read every fact of the units (six statements) and replay each; unknown units are left
    out. A fact that cannot be replayed (a refund beyond its payment) is a permanent error.

    ``as_of``: only the facts up to the end of that day (community time), as a statement of a
    past day shows the account. Otherwise every fact, and time-driven changes (a lapsing
    prepayment discount) up to ``at`` or the latest fact, whichever is later.
    """
    ids = list(dict.fromkeys(unit_ids))
    terms_rows = await conn.fetch(
        "SELECT u.unit_id, c.late_fee_daily_rate, c.late_fee_annual_cap, c.allocation_order, "
        "c.time_zone, c.utilities_late_fee FROM units u JOIN communities c USING (community_id) "
        "WHERE u.unit_id = ANY($1::text[])",
        ids,
    )
    invoices = _group(await conn.fetch(_INVOICES, ids))
    payments = _group(
        await conn.fetch(
            "SELECT unit_id, payment_id, amount_fen, paid_at, invoice_ids, payer_party_id "
            "FROM payments_received WHERE unit_id = ANY($1::text[])",
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
    sales = _group(
        await conn.fetch(
            "SELECT unit_id, sale_id, sold_at, seller_party_ids, buyer_party_id, seller_credit "
            "FROM unit_sales WHERE unit_id = ANY($1::text[])",
            ids,
        )
    )
    accounts = {}
    for t in terms_rows:
        unit = t["unit_id"]
        terms = LateFeeTerms(t["late_fee_daily_rate"], t["late_fee_annual_cap"])
        tz = ZoneInfo(t["time_zone"])
        known = {p["payment_id"] for p in payments[unit]}
        facts = [invoice_fact(r, t["utilities_late_fee"]) for r in invoices[unit]]
        paid = [
            PaymentFact(
                p["payment_id"],
                p["amount_fen"],
                p["paid_at"],
                tuple(p["invoice_ids"]),
                p["payer_party_id"],
            )
            for p in payments[unit]
        ]
        # A refund that came before its payment waits.
        back = [
            RefundFact(r["refund_id"], r["payment_id"], r["amount_fen"], r["refunded_at"])
            for r in refunds[unit]
            if r["payment_id"] in known
        ]
        waived = [
            WaiverFact(w["invoice_id"], w["amount_fen"], w["waived_at"]) for w in waivers[unit]
        ]
        sold = [
            SaleFact(
                s["sale_id"],
                s["sold_at"],
                tuple(s["seller_party_ids"]),
                s["buyer_party_id"],
                s["seller_credit"],
            )
            for s in sales[unit]
        ]
        until = (
            day_end(as_of, tz)
            if as_of is not None
            else _horizon(at, facts, paid, back, waived, sold)
        )
        try:
            state = replay(
                facts,
                paid,
                back,
                waived,
                sales=sold,
                terms=terms,
                order=t["allocation_order"],
                tz=tz,
                until=until,
            )
        except AccountError as exc:
            raise PermanentError(f"unit {unit}: {exc}") from exc
        through = (
            None if until is None else (until - timedelta(microseconds=1)).astimezone(tz).date()
        )
        accounts[unit] = Account(unit, invoices[unit], state, terms, tz, through)
    return accounts


def _horizon(
    at: datetime | None,
    invoices: list[InvoiceFact],
    payments: list[PaymentFact],
    refunds: list[RefundFact],
    waivers: list[WaiverFact],
    sales: list[SaleFact],
) -> datetime | None:
    """Just after the later of ``at`` and the latest fact: every fact is replayed, and a
    discount lapses only once its day has come."""
    times = [t for i in invoices for t in (i.issued_at, i.voided_at, i.written_off_at) if t]
    times += [p.paid_at for p in payments] + [r.refunded_at for r in refunds]
    times += [s.sold_at for s in sales] + [w.waived_at for w in waivers]
    if at is not None:
        times.append(at)
    return max(times) + timedelta(microseconds=1) if times else None


async def load_account(conn: asyncpg.Connection, unit_id: str) -> Account | None:
    return (await load_accounts(conn, [unit_id])).get(unit_id)


async def recompute_accounts(
    conn: asyncpg.Connection, unit_ids: Sequence[str], at: datetime, change: ChangeContext
) -> dict[str, Account]:
    """Replay the units' accounts and persist what changed (caller holds the transaction);
    returns the accounts as replayed.

    A unit billing does not know yet (a payment that came first) is skipped: its facts wait.
    Time-driven changes come due here too: a recompute at ``at`` lapses the prepayment
    discounts whose day has come and publishes invoices that became time-barred.
    """
    if not unit_ids:
        return {}
    await lock_units(conn, unit_ids)
    accounts = await load_accounts(conn, unit_ids, at=at)
    if not accounts:
        return accounts
    units = list(accounts)
    await _write_journals(conn, accounts, units)
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
    return accounts


async def _write_journals(
    conn: asyncpg.Connection, accounts: dict[str, Account], units: list[str]
) -> None:
    """Store each unit's allocation journal as replayed: only from its first changed entry on.

    A payment usually appends to the journal (it is replayed last); rewriting the whole
    journal on every payment cost PostgreSQL a delete and an insert of every allocation of the
    account's history. The stored journal is read (cheap), the common prefix kept, the rest
    deleted and the replay's tail inserted: the same rows as a full rewrite.
    """
    stored: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT unit_id, payment_id, invoice_id, component, amount_fen, at FROM allocations "
        "WHERE unit_id = ANY($1::text[]) ORDER BY unit_id, seq",
        units,
    ):
        stored[r["unit_id"]].append(tuple(r.values())[1:])
    cut_units: list[str] = []
    cut_after: list[int] = []
    tail: list[tuple[str, int, Allocation]] = []
    for unit in units:
        old = stored.get(unit, [])
        new = accounts[unit].state.allocations
        keep = 0
        for before, x in zip(old, new, strict=False):
            if before != (x.payment_id, x.invoice_id, x.component, x.amount_fen, x.at):
                break
            keep += 1
        if len(old) > keep:
            cut_units.append(unit)
            cut_after.append(keep)
        tail.extend((unit, n, x) for n, x in enumerate(new[keep:], keep + 1))
    if cut_units:
        await conn.execute(
            "DELETE FROM allocations a USING unnest($1::text[], $2::int[]) AS x(u, s) "
            "WHERE a.unit_id = x.u AND a.seq > x.s",
            cut_units,
            cut_after,
        )
    if tail:
        await conn.execute(
            "INSERT INTO allocations (unit_id, seq, payment_id, invoice_id, component, "
            "amount_fen, at) SELECT * FROM unnest($1::text[], $2::int[], $3::text[], "
            "$4::text[], $5::text[], $6::bigint[], $7::timestamptz[])",
            [u for u, _, _ in tail],
            [n for _, n, _ in tail],
            [x.payment_id for _, _, x in tail],
            [x.invoice_id for _, _, x in tail],
            [x.component for _, _, x in tail],
            [x.amount_fen for _, _, x in tail],
            [x.at for _, _, x in tail],
        )


async def recompute_account(
    conn: asyncpg.Connection, unit_id: str, at: datetime, change: ChangeContext
) -> None:
    await recompute_accounts(conn, [unit_id], at, change)


def _snapshot(b: InvoiceBalance, today: date) -> tuple[object, ...]:
    return (
        b.principal_paid_fen,
        b.late_fee_paid_fen,
        b.late_fee_waived_fen,
        b.late_fee_fixed_fen,
        b.status,
        b.settled_at,
        b.discount_lapsed_fen,
        b.time_barred(today),
        b.limitation_expires_on,
    )


def _stored(row: asyncpg.Record) -> tuple[object, ...]:
    return (
        row["principal_paid_fen"],
        row["late_fee_paid_fen"],
        row["late_fee_waived_fen"],
        row["late_fee_fixed_fen"],
        row["status"],
        row["settled_at"],
        row["discount_lapsed_fen"],
        row["time_barred"],
        row["published_expires_on"],
    )


def late_fee_basis(b: InvoiceBalance, on: date, terms: LateFeeTerms) -> LateFeeBasis:
    """The event form of the replay's own accrual state (``propfee.late_fees.AccrualBasis``):
    ``late_fee_on(basis, day)`` gives the replay's late fee for any later day."""
    return _late_fee_and_basis(b, on, terms)[1]


def _late_fee_and_basis(
    b: InvoiceBalance, on: date, terms: LateFeeTerms
) -> tuple[int, LateFeeBasis]:
    """``b.late_fee_accrued(on, terms)`` and :func:`late_fee_basis` from one count of the
    principal's days (``late_fee_accrued`` is ``late_fee_on`` of the same basis)."""
    basis = b.accrual_basis(on, terms)
    accrued = late_fee_on(basis, on)
    if b.status in ("void", "written_off"):  # nothing more is collected on it
        fixed = 0 if b.status == "void" else accrued
        basis = replace(basis, principal_outstanding_fen=0, fixed_fen=fixed)
    return accrued, LateFeeBasis.of(basis)


async def _write_balances(
    conn: asyncpg.Connection, accounts: list[Account], at: datetime, change: ChangeContext
) -> None:
    changed: list[tuple[Account, asyncpg.Record, InvoiceBalance, date]] = []
    for account in accounts:
        # Not before the latest fact: the basis must count every change of the principal.
        today = account.through or at.astimezone(account.tz).date()
        for row in account.invoices:
            b = account.state.invoices.get(row["invoice_id"])
            if b is not None and _snapshot(b, today) != _stored(row):
                changed.append((account, row, b, today))
    if not changed:
        return
    versions = await conn.fetch(
        """
        UPDATE invoices AS i
           SET principal_paid_fen = x.pp, late_fee_paid_fen = x.lp, late_fee_waived_fen = x.lw,
               late_fee_fixed_fen = x.lf, status = x.st, settled_at = x.sa,
               discount_lapsed_fen = x.dl, time_barred = x.tb, limitation_expires_on = x.le,
               version = i.version + 1
          FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                      $6::text[], $7::timestamptz[], $8::bigint[], $9::bool[], $10::date[])
               AS x(id, pp, lp, lw, lf, st, sa, dl, tb, le)
         WHERE i.invoice_id = x.id
        RETURNING i.invoice_id, i.version
        """,
        [r["invoice_id"] for _, r, _, _ in changed],
        [b.principal_paid_fen for _, _, b, _ in changed],
        [b.late_fee_paid_fen for _, _, b, _ in changed],
        [b.late_fee_waived_fen for _, _, b, _ in changed],
        [b.late_fee_fixed_fen for _, _, b, _ in changed],
        [b.status for _, _, b, _ in changed],
        [b.settled_at for _, _, b, _ in changed],
        [b.discount_lapsed_fen for _, _, b, _ in changed],
        [b.time_barred(d) for _, _, b, d in changed],
        [b.limitation_expires_on for _, _, b, _ in changed],
    )
    version_of = {v["invoice_id"]: v["version"] for v in versions}
    events: list[tuple[Event, str, str]] = []
    for account, row, b, today in changed:
        version = version_of[row["invoice_id"]]
        late_fee, basis = _late_fee_and_basis(b, today, account.terms)
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
                    # The principal owed is the undiscounted amount once a discount lapsed.
                    discount_lapsed_fen=b.discount_lapsed_fen,
                    principal_paid_fen=b.principal_paid_fen,
                    principal_outstanding_fen=0
                    if b.status == "void"
                    else max(b.principal_due_fen, 0),
                    late_fee_fen=late_fee,
                    late_fee_paid_fen=b.late_fee_paid_fen,
                    late_fee_waived_fen=b.late_fee_waived_fen,
                    reason=change.reason,
                    note=change.note,
                    approved_by=change.approved_by,
                    credit_note_no=change.credit_note_no,
                    changed_at=at,
                    late_fee_basis=basis,
                    time_barred=b.time_barred(today),
                    collection=b.collection,
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
