"""Keep each invoice's limitation clock (``receivables.limitation_expires_on``) in step with
what restarted it, and publish it. The rule itself is
:func:`dunning.domain.limitation.limitation_clock`, applied to every stored restart, so the
order in which events arrive does not matter.

Every change of an invoice's clock (its first computation included) goes to the outbox as
``LimitationClockChanged`` in the transaction that makes it, with the invoice's next
``clock_version``; a recompute that changes nothing publishes nothing. Work on one invoice's
clock is serialised by a transaction-scoped advisory lock taken before its restarts are
read (or written), so two transactions learning restarts at once cannot publish a stale
clock last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from dunning.domain.limitation import Clock, Restart, limitation_clock
from propfee.events import LimitationClockChanged
from propfee.logging import get_logger
from propfee.outbox import add_events

log = get_logger(__name__)

#: Business dates of events without a community time zone at hand.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
#: pg_advisory_xact_lock(CLOCK_LOCK, hashtext(invoice_id)): one writer of an invoice's clock.
#: The two-key form keeps these apart from the per-household single-key locks.
CLOCK_LOCK = 7_301_504


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


async def lock_clocks(conn: asyncpg.Connection, invoice_ids: Iterable[str]) -> None:
    """Take the clock locks of ``invoice_ids`` (in key order: no deadlock between two sets).

    Handlers that also write the invoice's row take them first, before that row's lock."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, k) FROM (SELECT DISTINCT hashtext(i) AS k "
        "FROM unnest($2::text[]) AS x(i) ORDER BY k) AS s",
        CLOCK_LOCK,
        list(invoice_ids),
    )


async def add_restarts(
    conn: asyncpg.Connection, restarts: Iterable[tuple[str, str, date, str]], *, at: datetime
) -> None:
    """Record ``(invoice_id, kind, on_date, source_id)`` restarts and recompute the clocks
    (``at``: when dunning learnt them, the ``changed_at`` of what is published)."""
    rows = list(restarts)
    if not rows:
        return
    invoice_ids = sorted({r[0] for r in rows})
    await lock_clocks(conn, invoice_ids)
    await conn.executemany(
        "INSERT INTO limitation_restarts (invoice_id, kind, on_date, source_id) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        rows,
    )
    await recompute(conn, invoice_ids, at=at)


async def recompute(
    conn: asyncpg.Connection, invoice_ids: Sequence[str], *, at: datetime | Mapping[str, datetime]
) -> int:
    """Recompute the clocks of the known invoices (with a due date) among ``invoice_ids``;
    store and publish those that changed. Returns how many changed.

    ``at``: when dunning learnt what changed them, one instant or one per invoice (a batch of
    events: each invoice's own event's time)."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return 0
    await lock_clocks(conn, ids)
    # A statement after the locks: it sees every restart committed by an earlier holder.
    rows = await conn.fetch(
        "SELECT r.invoice_id, r.unit_id, r.community_id, r.due_date, r.limitation_expires_on, "
        "r.limitation_clock_due_date, r.limitation_last_restart_on, r.limitation_clock_version, "
        "coalesce(array_agg(l.kind) FILTER (WHERE l.kind IS NOT NULL), '{}') AS kinds, "
        "coalesce(array_agg(l.on_date) FILTER (WHERE l.kind IS NOT NULL), '{}') AS dates "
        "FROM receivables r LEFT JOIN limitation_restarts l USING (invoice_id) "
        "WHERE r.invoice_id = ANY($1::text[]) AND r.due_date IS NOT NULL "
        "GROUP BY r.invoice_id ORDER BY r.invoice_id",
        ids,
    )
    updates: list[tuple[str, date, date | None, date, int]] = []
    events: list[tuple[LimitationClockChanged, str, str]] = []
    for row in rows:
        clock = limitation_clock(
            row["due_date"],
            [Restart(k, d) for k, d in zip(row["kinds"], row["dates"], strict=True)],
        )
        version = row["limitation_clock_version"]
        published = Clock(
            row["limitation_clock_due_date"] or row["due_date"],
            row["limitation_expires_on"],
            row["limitation_last_restart_on"],
        )
        if version > 0 and clock == published:
            continue
        version += 1
        updates.append(
            (row["invoice_id"], clock.expires_on, clock.last_restart_on, clock.due_date, version)
        )
        event = LimitationClockChanged(
            invoice_id=row["invoice_id"],
            community_id=row["community_id"],
            unit_id=row["unit_id"],
            due_date=clock.due_date,
            expires_on=clock.expires_on,
            clock_version=version,
            last_restart_on=clock.last_restart_on,
            changed_at=at if isinstance(at, datetime) else at[row["invoice_id"]],
        )
        events.append((event, row["unit_id"], row["invoice_id"]))
    if not updates:
        return 0
    await conn.execute(
        "UPDATE receivables r SET limitation_expires_on = x.e, limitation_last_restart_on = x.l, "
        "limitation_clock_due_date = x.d, limitation_clock_version = x.v "
        "FROM unnest($1::text[], $2::date[], $3::date[], $4::date[], $5::int[]) "
        "AS x(i, e, l, d, v) WHERE r.invoice_id = x.i",
        *(list(column) for column in zip(*updates, strict=True)),
    )
    # One COPY per instant (an event's ce_time is when it was learnt); one invoice's clock
    # changes once per call, so no key's events are reordered.
    by_time: dict[datetime, list[tuple[LimitationClockChanged, str, str]]] = {}
    for item in events:
        by_time.setdefault(item[0].changed_at, []).append(item)
    for time, group in by_time.items():
        await add_events(conn, group, time=time)
    return len(updates)


async def publish_unpublished_clocks(pool: asyncpg.Pool, *, at: datetime, batch: int = 500) -> int:
    """Publish the clocks never published (computed before migration 0008), a batch per
    transaction; safe on every replica at once (the clock lock, then the version decides).
    Returns how many were published."""
    total, after = 0, ""
    while True:
        async with pool.acquire() as conn, conn.transaction():
            ids = await conn.fetch(
                "SELECT invoice_id FROM receivables "
                "WHERE limitation_clock_version = 0 AND due_date IS NOT NULL AND invoice_id > $1 "
                "ORDER BY invoice_id LIMIT $2",
                after,
                batch,
            )
            if not ids:
                break
            after = ids[-1]["invoice_id"]
            total += await recompute(conn, [r["invoice_id"] for r in ids], at=at)
    if total:
        log.info("limitation clocks published", count=total)
    return total


async def open_invoices_of_case(conn: asyncpg.Connection, case_id: str, on: date) -> list[str]:
    """Invoices of a case due before ``on`` and not settled: what a demand or promise covers
    (the case's unit and payer: another party's invoices of the unit are never the case's)."""
    rows = await conn.fetch(
        "SELECT r.invoice_id FROM receivables r JOIN arrears_cases c ON c.unit_id = r.unit_id "
        "AND c.payer_party_id = r.payer_party_id "
        "WHERE c.case_id = $1 AND r.issued AND NOT r.settled AND r.due_date < $2",
        case_id,
        on,
    )
    return [r["invoice_id"] for r in rows]


async def liable_invoices(
    conn: asyncpg.Connection, invoice_ids: Sequence[str], party_id: str
) -> list[str]:
    """Those of ``invoice_ids`` that ``party_id`` is liable for: its payer, or a party billing
    named jointly liable (``liable_party_ids``). A demand delivered to someone restarts the
    clock of their own debts only (issue 18 rule 7)."""
    rows = await conn.fetch(
        "SELECT invoice_id FROM receivables WHERE invoice_id = ANY($1::text[]) "
        "AND (payer_party_id = $2 OR $2 = ANY(coalesce(liable_party_ids, '{}'))) "
        "ORDER BY invoice_id",
        list(invoice_ids),
        party_id,
    )
    return [r["invoice_id"] for r in rows]
