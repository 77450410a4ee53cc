"""Keep each invoice's limitation clock (``receivables.limitation_expires_on``) in step with
what restarted it; the rule itself is :func:`dunning.domain.limitation.limitation_expires_on`,
applied to every stored restart, so the order in which events arrive does not matter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from dunning.domain.limitation import Restart, limitation_expires_on

#: Business dates of events without a community time zone at hand.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


async def add_restarts(
    conn: asyncpg.Connection, restarts: Iterable[tuple[str, str, date, str]]
) -> None:
    """Record ``(invoice_id, kind, on_date, source_id)`` restarts and recompute the clocks."""
    rows = list(restarts)
    if not rows:
        return
    await conn.executemany(
        "INSERT INTO limitation_restarts (invoice_id, kind, on_date, source_id) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        rows,
    )
    await recompute(conn, sorted({r[0] for r in rows}))


async def recompute(conn: asyncpg.Connection, invoice_ids: Sequence[str]) -> None:
    rows = await conn.fetch(
        "SELECT r.invoice_id, r.due_date, "
        "coalesce(array_agg(l.kind) FILTER (WHERE l.kind IS NOT NULL), '{}') AS kinds, "
        "coalesce(array_agg(l.on_date) FILTER (WHERE l.kind IS NOT NULL), '{}') AS dates "
        "FROM receivables r LEFT JOIN limitation_restarts l USING (invoice_id) "
        "WHERE r.invoice_id = ANY($1::text[]) AND r.due_date IS NOT NULL "
        "GROUP BY r.invoice_id, r.due_date",
        list(invoice_ids),
    )
    updates = [
        (
            row["invoice_id"],
            limitation_expires_on(
                row["due_date"],
                [Restart(k, d) for k, d in zip(row["kinds"], row["dates"], strict=True)],
            ),
        )
        for row in rows
    ]
    await conn.executemany(
        "UPDATE receivables SET limitation_expires_on = $2 WHERE invoice_id = $1 "
        "AND limitation_expires_on IS DISTINCT FROM $2",
        updates,
    )


async def open_invoices_of_case(conn: asyncpg.Connection, case_id: str, on: date) -> list[str]:
    """Invoices of a case due before ``on`` and not settled: what a demand or promise covers."""
    rows = await conn.fetch(
        "SELECT r.invoice_id FROM receivables r JOIN arrears_cases c ON c.unit_id = r.unit_id "
        "WHERE c.case_id = $1 AND r.issued AND NOT r.settled AND r.due_date < $2",
        case_id,
        on,
    )
    return [r["invoice_id"] for r in rows]
