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

from billing.service_layer.accounts import ChangeContext, recompute_account
from propfee.consumer import EventContext
from propfee.events import LimitationClockChanged


async def record_limitation_clock(
    conn: asyncpg.Connection, clock: LimitationClockChanged, context: EventContext | None
) -> None:
    stored = await conn.fetchval(
        """
        INSERT INTO limitation_clocks (invoice_id, community_id, unit_id, due_date, expires_on,
                                       clock_version, last_restart_on, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (invoice_id) DO UPDATE
           SET expires_on = EXCLUDED.expires_on, clock_version = EXCLUDED.clock_version,
               last_restart_on = EXCLUDED.last_restart_on, changed_at = EXCLUDED.changed_at,
               due_date = EXCLUDED.due_date, recorded_at = now()
         WHERE limitation_clocks.clock_version < EXCLUDED.clock_version
        RETURNING true
        """,
        clock.invoice_id,
        clock.community_id,
        clock.unit_id,
        clock.due_date,
        clock.expires_on,
        clock.clock_version,
        clock.last_restart_on,
        clock.changed_at,
    )
    if not stored:
        return  # a duplicate or an older version
    # The unit is billing's own record of the invoice (never the event's word for it).
    unit_id = await conn.fetchval(
        "SELECT unit_id FROM invoices WHERE invoice_id = $1", clock.invoice_id
    )
    if unit_id is None:
        return  # the invoice is not known yet: the clock applies when it arrives
    await recompute_account(
        conn, unit_id, clock.changed_at, ChangeContext("recompute", note="limitation clock")
    )
