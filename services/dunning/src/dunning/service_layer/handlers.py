"""Dunning's handlers of billing's and payments' events. Each converges to the same state
whatever the arrival order, and runs in the consumer's inbox transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar

import asyncpg

from dunning.service_layer.cases import reconcile_cases
from dunning.service_layer.limitation import local_date, lock_clocks, recompute
from dunning.service_layer.plans import pause_pending_plans_of
from propfee.consumer import EventContext, single
from propfee.events import (
    CommunityUpdated,
    InvoiceBalanceChanged,
    InvoiceIssued,
    InvoiceSettled,
    LateFeeAssessed,
    PartyContactsUpdated,
    PaymentReceived,
    PaymentRefunded,
)

E = TypeVar("E", InvoiceIssued, InvoiceBalanceChanged, InvoiceSettled)


async def on_community_updated(
    conn: asyncpg.Connection, event: CommunityUpdated, context: EventContext
) -> None:
    """Which company a community belongs to (the scope of a company-wide token) and the
    company's back-dating window for staff's business times (None: the default); the names
    and the contract's end the evidence bundle's cover shows as the creditor."""
    await conn.execute(
        "INSERT INTO communities (community_id, company_id, updated_at, backdate_days, "
        "company_name, name, address, contract_end) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (community_id) DO UPDATE SET company_id = EXCLUDED.company_id, "
        "updated_at = EXCLUDED.updated_at, backdate_days = EXCLUDED.backdate_days, "
        "company_name = EXCLUDED.company_name, name = EXCLUDED.name, "
        "address = EXCLUDED.address, contract_end = EXCLUDED.contract_end "
        "WHERE communities.updated_at <= EXCLUDED.updated_at",
        event.community_id,
        event.company_id,
        event.updated_at,
        event.backdate_days,
        event.company_name,
        event.name,
        event.address,
        event.contract_end,
    )


def _rounds(events: Sequence[E]) -> list[list[E]]:
    """Cut a batch into rounds with each household (and invoice) at most once per round,
    in order: the n-th event of a unit goes to a round after its (n-1)-th. A round is then
    handled set-based and a household's events still apply one after the other."""
    rounds: list[list[E]] = []
    last: dict[str, int] = {}
    for event in events:
        unit, invoice = "u:" + event.unit_id, "i:" + event.invoice_id
        n = max(last.get(unit, -1), last.get(invoice, -1)) + 1
        last[unit] = last[invoice] = n
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(event)
    return rounds


async def on_invoices_issued(
    conn: asyncpg.Connection, batch: list[tuple[InvoiceIssued, EventContext]]
) -> None:
    """A receivable (with how billing issued it: an 'opening_late_fee' invoice is late fee,
    not principal, for the sweep; and who is liable for it); opens the payer's case on the
    unit (rule 7: one per unit and payer); starts (or, for a changed due date, moves)
    the invoice's limitation clock, which is published.

    A batch handler: a billing run's invoices from one partition are a few set-based
    statements per round (:func:`_rounds`), not a dozen round trips per invoice."""
    events = [event for event, _ in batch]
    # Before the rows' locks, as every clock writer; all at once, in key order.
    await lock_clocks(conn, [e.invoice_id for e in events])
    for round_ in _rounds(events):
        await _issue_round(conn, round_)


async def _issue_round(conn: asyncpg.Connection, events: list[InvoiceIssued]) -> None:
    await conn.execute(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date, "
        "total_fen, issued, room_label, kind, period_start, period_end, schedule_version, "
        "liable_party_ids, building_id, fee_items) SELECT i, u, c, p, d, t, true, rl, k, ps, "
        "pe, sv, "
        "CASE WHEN l IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text(l::json)) END, "
        "b, ARRAY(SELECT json_array_elements_text(f::json)) "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::bigint[], "
        "$7::text[], $8::text[], $9::date[], $10::date[], $11::text[], $12::text[], "
        "$13::text[], $14::text[]) "
        "AS x(i, u, c, p, d, t, rl, k, ps, pe, sv, l, b, f) ORDER BY i "
        "ON CONFLICT (invoice_id) DO UPDATE SET due_date = EXCLUDED.due_date, "
        "total_fen = EXCLUDED.total_fen, issued = true, room_label = EXCLUDED.room_label, "
        "kind = coalesce(EXCLUDED.kind, receivables.kind), "
        "period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, "
        "schedule_version = EXCLUDED.schedule_version, "
        "liable_party_ids = coalesce(EXCLUDED.liable_party_ids, receivables.liable_party_ids), "
        "building_id = EXCLUDED.building_id, fee_items = EXCLUDED.fee_items, "
        "updated_at = now()",
        [e.invoice_id for e in events],
        [e.unit_id for e in events],
        [e.community_id for e in events],
        [e.payer_party_id for e in events],
        [e.due_date for e in events],
        [e.total_fen for e in events],
        [e.room_label for e in events],
        [e.kind for e in events],
        # The period, the schedule: what the evidence bundle's claim names.
        [e.period_start for e in events],
        [e.period_end for e in events],
        [e.schedule_version for e in events],
        [None if e.liable_party_ids is None else json.dumps(e.liable_party_ids) for e in events],
        # The arrears list's filters (building, fee item).
        [e.building_id for e in events],
        [json.dumps(sorted({line.fee_item for line in e.lines})) for e in events],
    )
    await recompute(
        conn, [e.invoice_id for e in events], at={e.invoice_id: e.issued_at for e in events}
    )
    await reconcile_cases(
        conn, [(e.unit_id, e.community_id, e.payer_party_id, e.issued_at, False) for e in events]
    )
    await pause_pending_plans_of(conn, [e.unit_id for e in events])
    labelled = [e for e in events if e.room_label]
    if labelled:
        await conn.execute(
            "UPDATE arrears_cases c SET room_label = x.r "
            "FROM unnest($1::text[], $2::text[]) AS x(u, r) "
            "WHERE c.unit_id = x.u AND c.status = 'open' AND c.room_label IS DISTINCT FROM x.r",
            [e.unit_id for e in labelled],
            [e.room_label for e in labelled],
        )


on_invoice_issued = single(on_invoices_issued)


async def on_invoices_settled(
    conn: asyncpg.Connection, batch: list[tuple[InvoiceSettled, EventContext]]
) -> None:
    """Settlement may arrive before the invoice itself: remember it, issued stays false.
    A newer balance (a refund reopening the invoice) is never overwritten by it.

    A batch handler: set-based statements per round (:func:`_rounds`)."""
    for events in _rounds([event for event, _ in batch]):
        await conn.execute(
            "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, "
            "settled, settled_at, balance_version, status) SELECT i, u, c, p, true, s, v, 'paid' "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], "
            "$6::int[]) AS x(i, u, c, p, s, v) ORDER BY i "
            "ON CONFLICT (invoice_id) DO UPDATE SET settled = true, "
            "settled_at = EXCLUDED.settled_at, balance_version = EXCLUDED.balance_version, "
            "status = 'paid', updated_at = now() "
            "WHERE receivables.balance_version <= EXCLUDED.balance_version",
            [e.invoice_id for e in events],
            [e.unit_id for e in events],
            [e.community_id for e in events],
            [e.payer_party_id for e in events],
            [e.settled_at for e in events],
            [e.balance_version or 0 for e in events],
        )
        await reconcile_cases(
            conn,
            [(e.unit_id, e.community_id, e.payer_party_id, e.settled_at, True) for e in events],
        )


on_invoice_settled = single(on_invoices_settled)


async def on_invoice_balances_changed(
    conn: asyncpg.Connection, batch: list[tuple[InvoiceBalanceChanged, EventContext]]
) -> None:
    """Keep the newest balance of an invoice; older versions arriving late change nothing.
    A part payment restarts the invoice's limitation clock whatever the order; an invoice
    first known from its balance (its InvoiceIssued not yet here) gets its clock too.

    A batch handler: set-based statements per round (:func:`_rounds`)."""
    events = [event for event, _ in batch]
    # Before the rows' locks, as every clock writer; all at once, in key order.
    await lock_clocks(conn, [e.invoice_id for e in events])
    for round_ in _rounds(events):
        await _balance_round(conn, round_)


async def _balance_round(conn: asyncpg.Connection, events: list[InvoiceBalanceChanged]) -> None:
    closed = [e.status in ("paid", "void", "written_off") for e in events]
    await conn.execute(
        "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, due_date, "
        "total_fen, settled, settled_at, balance_version, status, principal_outstanding_fen, "
        "late_fee_outstanding_fen, late_fee_basis, late_fee_as_of) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], "
        "$6::bigint[], $7::boolean[], $8::timestamptz[], $9::int[], $10::text[], $11::bigint[], "
        "$12::bigint[], $13::jsonb[], $14::date[]) AS x ORDER BY 1 "
        "ON CONFLICT (invoice_id) DO UPDATE SET settled = EXCLUDED.settled, "
        "settled_at = EXCLUDED.settled_at, balance_version = EXCLUDED.balance_version, "
        "status = EXCLUDED.status, principal_outstanding_fen = EXCLUDED.principal_outstanding_fen, "
        "late_fee_outstanding_fen = EXCLUDED.late_fee_outstanding_fen, "
        "late_fee_basis = EXCLUDED.late_fee_basis, late_fee_as_of = EXCLUDED.late_fee_as_of, "
        "due_date = coalesce(receivables.due_date, EXCLUDED.due_date), updated_at = now() "
        "WHERE receivables.balance_version < EXCLUDED.balance_version",
        [e.invoice_id for e in events],
        [e.unit_id for e in events],
        [e.community_id for e in events],
        [e.payer_party_id for e in events],
        [e.due_date for e in events],
        [e.total_fen for e in events],
        closed,
        [e.changed_at if c else None for e, c in zip(events, closed, strict=True)],
        [e.balance_version for e in events],
        [e.status for e in events],
        [e.principal_outstanding_fen for e in events],
        [max(e.late_fee_fen - e.late_fee_paid_fen - e.late_fee_waived_fen, 0) for e in events],
        # How the late fee accrues (rate, cap, days): the evidence bundle's claim shows it.
        [
            None if e.late_fee_basis is None else e.late_fee_basis.model_dump(mode="json")
            for e in events
        ],
        [local_date(e.changed_at) for e in events],
    )
    restarts = [e for e in events if e.reason == "payment" and e.status == "partially_paid"]
    if restarts:  # a part payment restarts the clock (recomputed below with the others)
        await conn.execute(
            "INSERT INTO limitation_restarts (invoice_id, kind, on_date, source_id) "
            "SELECT i, 'part_payment', d, s FROM unnest($1::text[], $2::date[], $3::text[]) "
            "AS x(i, d, s) ON CONFLICT DO NOTHING",
            [e.invoice_id for e in restarts],
            [local_date(e.changed_at) for e in restarts],
            [f"balance-v{e.balance_version}" for e in restarts],
        )
    await recompute(
        conn, [e.invoice_id for e in events], at={e.invoice_id: e.changed_at for e in events}
    )
    await reconcile_cases(
        conn,
        [
            (
                e.unit_id,
                e.community_id,
                e.payer_party_id,
                e.changed_at,
                e.reason in ("payment", "credit"),
            )
            for e in events
        ],
    )


on_invoice_balance_changed = single(on_invoice_balances_changed)


async def on_late_fee_assessed(
    conn: asyncpg.Connection, event: LateFeeAssessed, context: EventContext
) -> None:
    """The late fee still owed on an open invoice, as billing assessed it (and the day it is
    accrued to, which the evidence bundle's claim shows with it)."""
    await conn.execute(
        "UPDATE receivables SET late_fee_outstanding_fen = $2, late_fee_as_of = $3, "
        "updated_at = now() WHERE invoice_id = $1 AND NOT settled",
        event.invoice_id,
        event.late_fee_outstanding_fen,
        event.as_of,
    )


async def on_payments_received(
    conn: asyncpg.Connection, batch: list[tuple[PaymentReceived, EventContext]]
) -> None:
    """Hold the households' reminders at once, before billing has even allocated the money.

    A batch handler: a run of payments from one partition is two statements in one
    transaction, so holds keep up with hundreds of payments a second."""
    events = [event for event, _ in batch]
    # The same per-household lock as reconcile_case, taken first and in a fixed order: an
    # invoice of the household handled at the same moment on another partition either sees
    # this payment or opens its case before this hold is set, never neither.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(u)) "
        "FROM (SELECT DISTINCT u FROM unnest($1::text[]) AS x(u) ORDER BY u) AS s",
        [e.unit_id for e in events],
    )
    await conn.execute(
        "INSERT INTO payments_seen (payment_id, unit_id, amount_fen, paid_at, payer_party_id) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], "
        "$5::text[]) ON CONFLICT (payment_id) DO NOTHING",
        [e.payment_id for e in events],
        [e.unit_id for e in events],
        [e.amount_fen for e in events],
        [e.paid_at for e in events],
        [e.payer_party_id for e in events],
    )
    await conn.execute(
        "UPDATE arrears_cases c SET on_hold = true, hold_payment_id = p.payment_id, "
        "hold_since = p.received_at FROM (SELECT DISTINCT ON (unit_id) unit_id, payment_id, "
        "received_at FROM unnest($1::text[], $2::text[], $3::timestamptz[]) "
        "AS x(payment_id, unit_id, received_at) ORDER BY unit_id, received_at DESC) p "
        "WHERE c.unit_id = p.unit_id AND c.status = 'open' "
        "AND (c.hold_since IS NULL OR c.hold_since <= p.received_at)",
        [e.payment_id for e in events],
        [e.unit_id for e in events],
        [e.received_at for e in events],
    )


on_payment_received = single(on_payments_received)


async def on_payment_refunded(
    conn: asyncpg.Connection, event: PaymentRefunded, context: EventContext
) -> None:
    await conn.execute(
        "INSERT INTO refunds_seen (refund_id, payment_id, unit_id, amount_fen, refunded_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (refund_id) DO NOTHING",
        event.refund_id,
        event.payment_id,
        event.unit_id,
        event.amount_fen,
        event.refunded_at,
    )


async def on_party_contacts_updated(
    conn: asyncpg.Connection, event: PartyContactsUpdated, context: EventContext
) -> None:
    """Who a party is, for the evidence cover (the debtor and the basis of their liability):
    kind, name and postal address only (phone, e-mail and messaging ids are notifier's). The
    newest ``updated_at`` wins whatever the arrival order. Personal data: never logged."""
    await conn.execute(
        "INSERT INTO parties (party_id, community_id, kind, name, postal_address, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (party_id) DO UPDATE SET "
        "community_id = EXCLUDED.community_id, kind = EXCLUDED.kind, name = EXCLUDED.name, "
        "postal_address = EXCLUDED.postal_address, updated_at = EXCLUDED.updated_at "
        "WHERE parties.updated_at <= EXCLUDED.updated_at",
        event.party_id,
        event.community_id,
        event.kind,
        event.name,
        event.postal_address,
        event.updated_at,
    )
