"""Dunning's limitation clock (诉讼时效) per invoice, as billing keeps it.

The highest ``clock_version`` of an invoice wins whatever the arrival order, so a duplicate or
an older clock changes nothing. A clock may come before its invoice: it is kept and applies
when the invoice arrives (the replay reads the clock with the invoice). A clock that changed
replays the unit's account, so money that an expired clock now keeps off a time-barred
invoice (or a restart arriving late gives back to it) moves, and the invoice's
InvoiceBalanceChanged says ``time_barred``.
"""

from __future__ import annotations

import asyncpg

from billing.service_layer.accounts import ChangeContext, recompute_accounts
from propfee.consumer import EventContext
from propfee.events import LimitationClockChanged


async def record_limitation_clocks(
    conn: asyncpg.Connection, items: list[tuple[LimitationClockChanged, EventContext]]
) -> None:
    """Keep each invoice's highest clock, then replay every unit whose clock changed, all at
    once: the units are locked together in one global order (``recompute_accounts``), so a
    run of clocks never deadlocks with a late-fee job or a batch of payments."""
    stored = await conn.fetch(
        """
        INSERT INTO limitation_clocks AS l (invoice_id, community_id, unit_id, due_date,
                                            expires_on, clock_version, last_restart_on,
                                            changed_at)
        SELECT DISTINCT ON (i) i, c, u, d, e, v, r, t
          FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[], $6::int[],
                      $7::date[], $8::timestamptz[]) AS x(i, c, u, d, e, v, r, t)
         ORDER BY i, v DESC
        ON CONFLICT (invoice_id) DO UPDATE
           SET expires_on = EXCLUDED.expires_on, clock_version = EXCLUDED.clock_version,
               last_restart_on = EXCLUDED.last_restart_on, changed_at = EXCLUDED.changed_at,
               due_date = EXCLUDED.due_date, recorded_at = now()
         WHERE l.clock_version < EXCLUDED.clock_version
        RETURNING invoice_id, changed_at
        """,
        [c.invoice_id for c, _ in items],
        [c.community_id for c, _ in items],
        [c.unit_id for c, _ in items],
        [c.due_date for c, _ in items],
        [c.expires_on for c, _ in items],
        [c.clock_version for c, _ in items],
        [c.last_restart_on for c, _ in items],
        [c.changed_at for c, _ in items],
    )
    if not stored:
        return  # duplicates or older versions
    # The unit is billing's own record of the invoice (never the event's word for it); an
    # invoice not known yet takes its clock when it arrives.
    units = await conn.fetch(
        "SELECT DISTINCT unit_id FROM invoices WHERE invoice_id = ANY($1::text[])",
        [r["invoice_id"] for r in stored],
    )
    if not units:
        return
    await recompute_accounts(
        conn,
        [u["unit_id"] for u in units],
        max(r["changed_at"] for r in stored),
        ChangeContext("recompute", note="limitation clock"),
    )


async def record_limitation_clock(
    conn: asyncpg.Connection, clock: LimitationClockChanged, context: EventContext | None
) -> None:
    await record_limitation_clocks(conn, [(clock, context)])  # type: ignore[list-item]
