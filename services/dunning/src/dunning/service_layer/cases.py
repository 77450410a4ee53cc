"""Open and close the cases of a household from the receivables read model: one case per
unit *and* payer (issue 18 rule 7, DOMAIN.md "Cases per liable party"), so after a sale, a
handover or a tenant change each party is chased for its own invoices only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg


async def reconcile_case(
    conn: asyncpg.Connection,
    unit_id: str,
    community_id: str,
    payer_party_id: str,
    at: datetime,
    *,
    lift_hold: bool = False,
) -> None:
    """Open the case of ``payer_party_id`` on the unit while anything issued to that payer
    there is unsettled; close it when nothing is. Other payers' cases of the unit are theirs.

    ``lift_hold``: billing has allocated money received up to ``at``; its balances now say
    what is still owed, so a hold placed by a payment received by then is lifted."""
    # Serialise work on one household's cases (two partitions' events may race).
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", unit_id)
    owes = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM receivables WHERE unit_id = $1 AND payer_party_id = $2 "
        "AND issued AND NOT settled)",
        unit_id,
        payer_party_id,
    )
    if owes:
        opened = await conn.fetchval(
            "INSERT INTO arrears_cases (case_id, unit_id, community_id, payer_party_id, opened_at) "
            "VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (unit_id, payer_party_id) WHERE status = 'open' DO NOTHING "
            "RETURNING case_id",
            f"case-{uuid.uuid4()}",
            unit_id,
            community_id,
            payer_party_id,
            at,
        )
        if opened:
            # A payment seen shortly before the case opened (events out of order) holds it too.
            await conn.execute(
                "UPDATE arrears_cases c SET on_hold = true, hold_payment_id = p.payment_id, "
                "hold_since = p.paid_at FROM (SELECT payment_id, paid_at FROM payments_seen "
                "WHERE unit_id = $2 AND paid_at <= $3 "
                "AND paid_at > $3::timestamptz - interval '72 hours' "
                "ORDER BY paid_at DESC LIMIT 1) p WHERE c.case_id = $1",
                opened,
                unit_id,
                at,
            )
        if lift_hold:  # every case of the unit: a payment holds them all (on_payments_received)
            await conn.execute(
                "UPDATE arrears_cases SET on_hold = false WHERE unit_id = $1 AND status = 'open' "
                "AND on_hold AND hold_since <= $2",
                unit_id,
                at,
            )
        return
    closed = await conn.fetch(
        "UPDATE arrears_cases SET status = 'closed', closed_at = $2, on_hold = false, "
        "close_reason = 'paid' WHERE unit_id = $1 AND payer_party_id = $3 AND status = 'open' "
        "RETURNING case_id",
        unit_id,
        at,
        payer_party_id,
    )
    ids = [r["case_id"] for r in closed]
    if ids:
        await conn.execute(
            "UPDATE promises SET status = 'kept', closed_at = $2 "
            "WHERE case_id = ANY($1::text[]) AND status = 'open'",
            ids,
            at,
        )
        await conn.execute(
            "UPDATE tasks SET status = 'cancelled', completed_at = $2 "
            "WHERE case_id = ANY($1::text[]) AND status = 'open'",
            ids,
            at,
        )


async def reconcile_cases(
    conn: asyncpg.Connection,
    items: Sequence[tuple[str, str, str, datetime, bool]],
) -> None:
    """:func:`reconcile_case` for many households at once, set-based: ``(unit_id,
    community_id, payer_party_id, at, lift_hold)`` with each unit at most once (the caller
    cuts a batch into such rounds, so each household's events keep their order)."""
    if not items:
        return
    units = [i[0] for i in items]
    assert len(set(units)) == len(units), "one item per unit in a round"
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(u)) "
        "FROM (SELECT DISTINCT u FROM unnest($1::text[]) AS x(u) ORDER BY u) AS s",
        units,
    )
    owing = await conn.fetch(
        "SELECT x.n, EXISTS (SELECT 1 FROM receivables r WHERE r.unit_id = x.u "
        "AND r.payer_party_id = x.p AND r.issued AND NOT r.settled) AS owes "
        "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(u, p, n)",
        units,
        [i[2] for i in items],
    )
    owes = {r["n"] - 1 for r in owing if r["owes"]}
    debtors = [items[n] for n in sorted(owes)]
    settled = [item for n, item in enumerate(items) if n not in owes]
    if debtors:
        opened = await conn.fetch(
            "INSERT INTO arrears_cases (case_id, unit_id, community_id, payer_party_id, "
            "opened_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
            "$5::timestamptz[]) "
            "ON CONFLICT (unit_id, payer_party_id) WHERE status = 'open' DO NOTHING "
            "RETURNING case_id, unit_id, opened_at",
            [f"case-{uuid.uuid4()}" for _ in debtors],
            [d[0] for d in debtors],
            [d[1] for d in debtors],
            [d[2] for d in debtors],
            [d[3] for d in debtors],
        )
        if opened:
            # A payment seen shortly before the case opened (events out of order) holds it too.
            await conn.execute(
                "UPDATE arrears_cases c SET on_hold = true, hold_payment_id = p.payment_id, "
                "hold_since = p.paid_at FROM unnest($1::text[], $2::text[], $3::timestamptz[]) "
                "AS x(case_id, unit_id, at) CROSS JOIN LATERAL (SELECT payment_id, paid_at "
                "FROM payments_seen WHERE unit_id = x.unit_id AND paid_at <= x.at "
                "AND paid_at > x.at - interval '72 hours' ORDER BY paid_at DESC LIMIT 1) p "
                "WHERE c.case_id = x.case_id",
                [r["case_id"] for r in opened],
                [r["unit_id"] for r in opened],
                [r["opened_at"] for r in opened],
            )
        lifts = [d for d in debtors if d[4]]
        if lifts:  # every case of the unit: a payment holds them all (on_payments_received)
            await conn.execute(
                "UPDATE arrears_cases c SET on_hold = false "
                "FROM unnest($1::text[], $2::timestamptz[]) AS x(unit_id, at) "
                "WHERE c.unit_id = x.unit_id AND c.status = 'open' AND c.on_hold "
                "AND c.hold_since <= x.at",
                [d[0] for d in lifts],
                [d[3] for d in lifts],
            )
    if not settled:
        return
    closed = await conn.fetch(
        "UPDATE arrears_cases c SET status = 'closed', closed_at = x.at, on_hold = false, "
        "close_reason = 'paid' FROM unnest($1::text[], $2::text[], $3::timestamptz[]) "
        "AS x(unit_id, payer_party_id, at) WHERE c.unit_id = x.unit_id "
        "AND c.payer_party_id = x.payer_party_id AND c.status = 'open' "
        "RETURNING c.case_id, x.at",
        [s[0] for s in settled],
        [s[2] for s in settled],
        [s[3] for s in settled],
    )
    if closed:
        ids = [r["case_id"] for r in closed]
        ats = [r["at"] for r in closed]
        await conn.execute(
            "UPDATE promises p SET status = 'kept', closed_at = x.at "
            "FROM unnest($1::text[], $2::timestamptz[]) AS x(case_id, at) "
            "WHERE p.case_id = x.case_id AND p.status = 'open'",
            ids,
            ats,
        )
        await conn.execute(
            "UPDATE tasks t SET status = 'cancelled', completed_at = x.at "
            "FROM unnest($1::text[], $2::timestamptz[]) AS x(case_id, at) "
            "WHERE t.case_id = x.case_id AND t.status = 'open'",
            ids,
            ats,
        )
