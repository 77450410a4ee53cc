"""Billing runs: every unit of a community billed for one period, as of an explicit date.

Set-based: units, payers, readings and charges are read a chunk at a time in a few queries,
the pure domain prices them, and invoices, lines and their InvoiceIssued events are written
with COPY, all in ONE transaction: a run is complete or absent, never half-written, and
running it again finds it and creates nothing.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from billing.domain.advance import AdvanceCapError, check_advance
from billing.domain.billed import TIME_BASED, PriceCache, bill_unbilled
from billing.domain.calendar import Period, month_end
from billing.domain.charges import (
    CYCLE_MONTHS,
    Cycle,
    Discounts,
    DraftInvoice,
    ExtraCharge,
    PayerSpan,
    Reading,
    UnitFacts,
    VacancySpell,
    split_shared_meter,
)
from billing.domain.schedule import ScheduleError, ScheduleHistory
from billing.service_layer import billed_months
from billing.service_layer.accounts import ChangeContext, recompute_accounts
from billing.service_layer.billed_months import lock_billing
from billing.service_layer.ids import stable_id
from billing.service_layer.invoices import copy_invoices
from billing.service_layer.issuing import LateFeeContract, liable_parties
from billing.service_layer.schedules import load_history
from propfee import audit
from propfee.auth import Principal
from propfee.events import InvoiceIssued
from propfee.labels import room_label_of_key
from propfee.logging import get_logger
from propfee.money import round_half_up
from propfee.outbox import RawEvent, add_raw_events
from propfee.problems import Conflict, NotFound

log = get_logger(__name__)


class RunError(ValueError):
    """A run that may not happen; the message says why."""


@dataclass(frozen=True)
class RunRequest:
    community_id: str
    period_start: date
    cycle: Cycle
    as_of: date
    #: The real day of recording in the community (its today); None when the service role
    #: runs on the simulation clock, whose ``as_of`` is its today. The advance-collection cap
    #: counts from the earlier of the two: ``as_of`` never moves it into the future.
    recorded_on: date | None = None


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    created: bool
    invoices: int
    total_fen: int
    period_start: date
    period_end: date
    #: Unit-month-items of the period billed already (a monthly run before this quarterly
    #: one, a manual invoice): skipped, not billed twice.
    skipped: int = 0
    #: ``running`` while items are pending, then ``done`` (or ``failed``: some item refused).
    state: str = "done"
    items_total: int = 1
    items_done: int = 1
    items_failed: int = 0


@dataclass(frozen=True)
class ItemError:
    item_no: int
    error: str


class RunInProgress(Conflict):
    """Another run of the community is still billing (its items pending)."""


#: Units per work item: a run of up to this many units is billed in the request's own
#: transaction (complete or absent); a larger one is split into items of about this many units,
#: each billed and committed on its own by whichever billing process claims it.
CHUNK = 5000
RUN_INVOICE_COLUMNS = (
    "invoice_id",
    "community_id",
    "building_id",
    "unit_id",
    "payer_party_id",
    "liable_party_id",
    "run_id",
    "period_start",
    "period_end",
    "due_date",
    "schedule_version",
    "total_fen",
    "issued_at",
    "collection",
)
#: Woken by a run created with items to claim (``LISTEN`` in the workers).
NOTIFY_CHANNEL = "propfee_billing_run_items"


#: Called inside the run's transaction when a run was created (the audit trail's hook).
RunHook = Callable[[asyncpg.Connection, RunSummary], Awaitable[None]]


@dataclass
class _RunContext:
    """What every item of a run needs, read in the item's own transaction."""

    run_id: str
    community: asyncpg.Record
    period: Period
    cycle: Cycle
    as_of: date
    issued_at: datetime
    history: ScheduleHistory
    discounts: Discounts
    time_based: list[str]
    has_shares: bool
    caches: dict[frozenset[str], PriceCache]


async def run_billing(
    pool: asyncpg.Pool,
    request: RunRequest,
    *,
    chunk: int = CHUNK,
    item_units: int = CHUNK,
    on_created: RunHook | None = None,
) -> RunSummary:
    """Create the run: at most ``item_units`` units are billed at once, in this transaction
    (``chunk`` units per query; the answer has the invoices); more are split into work items
    of ``item_units`` units, committed
    here as pending and billed by the workers (:func:`bill_next_item`): the answer is at once,
    ``state = running``; ``GET`` the run for its progress."""
    period = Period.of_months(request.period_start, CYCLE_MONTHS[request.cycle])
    run_id = stable_id("run", request.community_id, period.start, period.end, request.cycle)
    async with pool.acquire() as conn, conn.transaction():
        await lock_billing(conn, request.community_id)
        done = await conn.fetchrow("SELECT * FROM billing_runs WHERE run_id = $1", run_id)
        if done is not None:
            return _summary(done, created=False)
        community = await _community(conn, request.community_id)
        if community is None:
            raise RunError(f"community {request.community_id} does not exist")
        _check_advance_cap(community, period, request)
        tz = ZoneInfo(community["time_zone"])
        issued_at = datetime.combine(request.as_of, time(0), tz).astimezone(UTC)
        history = await load_history(conn, request.community_id)
        if history.effective_on(period.start) is None:
            raise RunError(f"no fee schedule is effective on {period.start}")
        running = await conn.fetchval(
            "SELECT run_id FROM billing_runs WHERE community_id = $1 AND state = 'running' LIMIT 1",
            request.community_id,
        )
        if running is not None:
            raise RunInProgress(
                f"billing run {running} of the community is still billing: start this one "
                "when it is done",
                running_run_id=running,
            )
        bounds = await _item_bounds(conn, request.community_id, item_units)
        await conn.execute(
            "INSERT INTO billing_runs (run_id, community_id, period_start, period_end, cycle, "
            "as_of, issued_at, invoices, total_fen, state, items_total, items_done) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 'running', $8, 0)",
            run_id,
            request.community_id,
            period.start,
            period.end,
            request.cycle,
            request.as_of,
            issued_at,
            len(bounds),
        )
        await _store_shares(conn, request.community_id, period, history, run_id)
        await conn.executemany(
            "INSERT INTO billing_run_items (run_id, item_no, community_id, after_unit_id, "
            "last_unit_id, units) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (run_id, n, request.community_id, after, last, units)
                for n, (after, last, units) in enumerate(bounds, start=1)
            ],
        )
        if len(bounds) == 1:
            # Small: billed here, complete or absent (a refused unit refuses the run).
            item = await conn.fetchrow(
                "SELECT * FROM billing_run_items WHERE run_id = $1 AND item_no = 1", run_id
            )
            run = await conn.fetchrow("SELECT * FROM billing_runs WHERE run_id = $1", run_id)
            context = await _context(conn, run)
            result = await _bill_item(conn, context, item, chunk)
            await _finish_item(conn, run_id, 1, result, None)
        else:
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, run_id)
        summary = _summary(
            await conn.fetchrow("SELECT * FROM billing_runs WHERE run_id = $1", run_id),
            created=True,
        )
        if on_created is not None:
            await on_created(conn, summary)
    return summary


async def progress(
    pool: asyncpg.Pool, community_id: str, run_id: str
) -> tuple[RunSummary, list[ItemError]]:
    """The run's progress: items done of the total, invoices so far, the refused items."""
    async with pool.acquire() as conn:
        return await _progress(conn, community_id, run_id)


async def _progress(
    conn: asyncpg.Connection, community_id: str, run_id: str
) -> tuple[RunSummary, list[ItemError]]:
    run = await conn.fetchrow(
        "SELECT * FROM billing_runs WHERE run_id = $1 AND community_id = $2", run_id, community_id
    )
    if run is None:
        raise NotFound(f"billing run {run_id} does not exist")
    errors = await conn.fetch(
        "SELECT item_no, error FROM billing_run_items WHERE run_id = $1 AND state = 'failed' "
        "ORDER BY item_no",
        run_id,
    )
    return _summary(run, created=False), [ItemError(e["item_no"], e["error"]) for e in errors]


async def bill_next_item(pool: asyncpg.Pool, *, chunk: int = CHUNK) -> bool:
    """Claim one pending item of any run (``FOR UPDATE SKIP LOCKED``: never one another
    process holds) and bill it in the claim's transaction: its invoices, billed months and
    InvoiceIssued events commit with the item marked done. A crash rolls all of it back and
    leaves the item pending for the next claim; redone, an item finds its units' months
    billed (``billed_months``) and bills nothing twice. A unit the domain refuses fails the
    item (its error kept on it, its units unbilled); the run's other items go on. An item
    whose billing raises anything else is counted (``attempts``, claimed after the others)
    and failed at :data:`MAX_ATTEMPTS`. False: nothing was pending."""
    claimed: tuple[str, int] | None = None
    try:
        async with pool.acquire() as conn, conn.transaction():
            item = await conn.fetchrow(
                "SELECT * FROM billing_run_items WHERE state = 'pending' "
                "ORDER BY attempts, run_id, item_no LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            if item is None:
                return False
            claimed = (item["run_id"], item["item_no"])
            # Shared: items of a run bill side by side; a manual invoice (exclusive) waits.
            await lock_billing(conn, item["community_id"], shared=True)
            run = await conn.fetchrow(
                "SELECT * FROM billing_runs WHERE run_id = $1", item["run_id"]
            )
            error = None
            try:
                async with conn.transaction():
                    context = await _context(conn, run)
                    result = await _bill_item(conn, context, item, chunk)
            except RunError as exc:
                error, result = str(exc), (0, 0, 0)
                log.warning(
                    "billing run item refused",
                    run_id=item["run_id"],
                    item_no=item["item_no"],
                    error=error,
                )
            await _finish_item(conn, item["run_id"], item["item_no"], result, error)
        return True
    except Exception as exc:
        if claimed is not None:
            with contextlib.suppress(Exception):
                await _count_attempt(pool, *claimed, f"{type(exc).__name__}: {exc}"[:500])
        raise


#: An item whose billing raised this many times (not a refusal: a bug, a constraint) fails.
MAX_ATTEMPTS = 5


async def _count_attempt(pool: asyncpg.Pool, run_id: str, item_no: int, error: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        item = await conn.fetchrow(
            "SELECT community_id, attempts FROM billing_run_items WHERE run_id = $1 "
            "AND item_no = $2 AND state = 'pending' FOR UPDATE SKIP LOCKED",
            run_id,
            item_no,
        )
        if item is None:
            return  # claimed again meanwhile, or done
        attempts = item["attempts"] + 1
        await conn.execute(
            "UPDATE billing_run_items SET attempts = $3, error = $4 WHERE run_id = $1 "
            "AND item_no = $2",
            run_id,
            item_no,
            attempts,
            error,
        )
        if attempts >= MAX_ATTEMPTS:
            await lock_billing(conn, item["community_id"], shared=True)
            await _finish_item(
                conn, run_id, item_no, (0, 0, 0), f"failed {attempts} times; last: {error}"
            )


def _summary(run: asyncpg.Record, *, created: bool) -> RunSummary:
    return RunSummary(
        run["run_id"],
        created,
        run["invoices"],
        run["total_fen"],
        run["period_start"],
        run["period_end"],
        run["skipped"],
        run["state"],
        run["items_total"],
        run["items_done"],
        run["items_failed"],
    )


async def _community(conn: asyncpg.Connection, community_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        # The community's own vacancy rule, else its company's for the community's city.
        "SELECT c.*, coalesce(o.after_months, v.after_months) AS after_months, "
        "CASE WHEN o.community_id IS NULL THEN v.payable_share ELSE o.payable_share END "
        "AS payable_share FROM communities c "
        "LEFT JOIN community_vacancy_rules o ON o.community_id = c.community_id "
        "LEFT JOIN company_vacancy_rules v ON v.company_id = c.company_id AND v.city = c.city "
        "WHERE c.community_id = $1",
        community_id,
    )
    return row


async def _item_bounds(
    conn: asyncpg.Connection, community_id: str, chunk: int
) -> list[tuple[str, str | None, int]]:
    """The community's units cut into items of ``chunk`` units in unit_id order:
    ``(after_unit_id, last_unit_id, units)``, the last one unbounded (one item at least)."""
    rows = await conn.fetch(
        "SELECT unit_id, n FROM (SELECT unit_id, row_number() OVER (ORDER BY unit_id) AS n "
        "FROM units WHERE community_id = $1) u WHERE n % $2 = 0 ORDER BY unit_id",
        community_id,
        chunk,
    )
    total = await conn.fetchval("SELECT count(*) FROM units WHERE community_id = $1", community_id)
    bounds: list[tuple[str, str | None, int]] = []
    after = ""
    for row in rows:
        if row["n"] == total:
            break  # the last chunk is exactly full: it is the unbounded one
        bounds.append((after, row["unit_id"], chunk))
        after = row["unit_id"]
    bounds.append((after, None, total - chunk * len(bounds)))
    return bounds


async def _context(conn: asyncpg.Connection, run: asyncpg.Record) -> _RunContext:
    community = await _community(conn, run["community_id"])
    if community is None:
        raise RunError(f"community {run['community_id']} does not exist")
    history = await load_history(conn, run["community_id"])
    discounts = Discounts(
        prepayment={
            "quarterly": community["prepay_quarterly"],
            "half_yearly": community["prepay_half_yearly"],
            "yearly": community["prepay_yearly"],
        },
        vacancy_after_months=community["after_months"],
        vacancy_payable_share=community["payable_share"] or Decimal(1),
    )
    has_shares = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM billing_run_shares WHERE run_id = $1)", run["run_id"]
    )
    return _RunContext(
        run["run_id"],
        community,
        Period(run["period_start"], run["period_end"]),
        run["cycle"],
        run["as_of"],
        run["issued_at"],
        history,
        discounts,
        sorted(history.codes_of(TIME_BASED)),
        has_shares,
        {},
    )


async def _bill_item(
    conn: asyncpg.Connection, ctx: _RunContext, item: asyncpg.Record, chunk: int
) -> tuple[int, int, int]:
    """Bill the item's units (a chunk at a time): ``(invoices, total_fen, skipped)``."""
    count = total = skipped = 0
    after: str = item["after_unit_id"]
    while True:
        facts = await _load_units(conn, ctx, after, item["last_unit_id"], chunk)
        if not facts:
            break
        after = facts[-1][0].unit_id
        unit_ids = [unit.unit_id for unit, _ in facts]
        # A unit-month is billed once per fee item: what is billed already is skipped.
        billed = await billed_months.billed_in(conn, unit_ids, ctx.period.start, ctx.period.end)
        skipped += sum(len(codes) for b in billed.values() for codes in b.values())
        drafts: list[tuple[DraftInvoice, asyncpg.Record]] = []
        for unit, row in facts:
            try:
                drafts += [
                    (d, row)
                    for d in bill_unbilled(
                        unit,
                        ctx.period,
                        ctx.history,
                        billed.get(unit.unit_id, {}),
                        cycle=ctx.cycle,
                        discounts=ctx.discounts,
                        caches=ctx.caches,
                    )
                ]
            except (ScheduleError, ValueError) as exc:
                raise RunError(f"unit {row['unit_key']}: {exc}") from exc
        n, fen = await _write(conn, ctx.community, ctx.run_id, drafts, ctx.issued_at, ctx.as_of)
        count, total = count + n, total + fen
        await billed_months.record_run(conn, ctx.run_id, unit_ids, ctx.time_based)
    # Prepaid balances (预存) settle the new invoices at once.
    with_credit = await conn.fetch(
        "SELECT DISTINCT a.unit_id FROM account_credits a JOIN invoices i "
        "ON i.unit_id = a.unit_id AND i.run_id = $1 WHERE a.unit_id > $2 "
        "AND ($3::text IS NULL OR a.unit_id <= $3)",
        ctx.run_id,
        item["after_unit_id"],
        item["last_unit_id"],
    )
    await recompute_accounts(
        conn, [row["unit_id"] for row in with_credit], ctx.issued_at, ChangeContext("credit")
    )
    return count, total, skipped


async def _finish_item(
    conn: asyncpg.Connection,
    run_id: str,
    item_no: int,
    result: tuple[int, int, int],
    error: str | None,
) -> None:
    """Mark the item done (or failed) and count it on the run, in the item's transaction.

    The run's row is locked first, so the statement after it sees every item committed
    before: of two items finishing together, the later one sees the other done and ends the
    run. ``NO KEY``: the items' invoices hold a key-share lock on it (their foreign key)."""
    invoices, total, skipped = result
    await conn.execute(
        "UPDATE billing_run_items SET state = $3, invoices = $4, total_fen = $5, skipped = $6, "
        "error = $7, done_at = now() WHERE run_id = $1 AND item_no = $2",
        run_id,
        item_no,
        "failed" if error else "done",
        invoices,
        total,
        skipped,
        error,
    )
    await conn.execute("SELECT 1 FROM billing_runs WHERE run_id = $1 FOR NO KEY UPDATE", run_id)
    await conn.execute(
        "UPDATE billing_runs r SET invoices = r.invoices + $2, total_fen = r.total_fen + $3, "
        "skipped = r.skipped + $4, items_done = r.items_done + 1, "
        "items_failed = r.items_failed + $5, state = CASE "
        "WHEN EXISTS (SELECT 1 FROM billing_run_items i WHERE i.run_id = r.run_id "
        "AND i.state = 'pending') THEN 'running' "
        "WHEN r.items_failed + $5 > 0 THEN 'failed' ELSE 'done' END "
        "WHERE r.run_id = $1",
        run_id,
        invoices,
        total,
        skipped,
        1 if error else 0,
    )


@lru_cache(maxsize=4096)
def _whole_fen(rate: Decimal) -> int:
    return round_half_up(Fraction(rate))


def _check_advance_cap(community: asyncpg.Record, period: Period, request: RunRequest) -> None:
    """Counted from the day of recording: ``as_of`` may not move the window into the future."""
    recorded_on = (
        request.as_of if request.recorded_on is None else min(request.as_of, request.recorded_on)
    )
    try:
        check_advance(
            period.end, recorded_on, community["advance_cap_months"], community["contract_end"]
        )
    except AdvanceCapError as exc:
        raise RunError(str(exc)) from exc


async def _store_shares(
    conn: asyncpg.Connection,
    community_id: str,
    period: Period,
    history: ScheduleHistory,
    run_id: str,
) -> None:
    """Each unit's share of the shared meters read for the period, split by floor area,
    stored for the items of the run (``billing_run_shares``)."""
    # Each reading once: the run that bills it names it (a later run over the month skips it).
    readings = await conn.fetch(
        "WITH billed AS (UPDATE shared_meter_readings SET billed_run_id = $4 "
        "WHERE community_id = $1 AND period_month BETWEEN $2 AND $3 AND billed_run_id IS NULL "
        "RETURNING building_id, item_code, quantity) "
        "SELECT building_id, item_code, sum(quantity) AS quantity FROM billed "
        "GROUP BY building_id, item_code ORDER BY building_id, item_code",
        community_id,
        period.start,
        period.end,
        run_id,
    )
    if not readings:
        return
    shares: dict[str, list[ExtraCharge]] = defaultdict(list)
    schedule = history.effective_on(period.end)
    units = await conn.fetch(
        "SELECT unit_id, building_id, floor_area_m2 FROM units WHERE community_id = $1 "
        "ORDER BY unit_id",
        community_id,
    )
    for reading in readings:
        item = schedule.item(reading["item_code"], "*") if schedule else None
        if item is None or item.kind != "shared_meter":
            raise RunError(f"shared meter item {reading['item_code']!r} is not in the schedule")
        scope = [
            (u["unit_id"], u["floor_area_m2"])
            for u in units
            if reading["building_id"] in ("*", u["building_id"])
        ]
        for unit_id, charge in split_shared_meter(
            item.code, reading["quantity"], item.rate_fen, scope
        ).items():
            shares[unit_id].append(charge)
    await conn.copy_records_to_table(
        "billing_run_shares",
        records=[
            (run_id, unit_id, c.item_code, c.quantity, c.description, c.amount_fen)
            for unit_id, charges in shares.items()
            for c in charges
        ],
        columns=["run_id", "unit_id", "item_code", "quantity", "description", "amount_fen"],
    )


async def _load_units(
    conn: asyncpg.Connection,
    ctx: _RunContext,
    after: str,
    last: str | None,
    limit: int,
) -> list[tuple[UnitFacts, asyncpg.Record]]:
    period = ctx.period
    rows = await conn.fetch(
        """
        SELECT u.unit_id, u.unit_key, u.building_id, u.unit_type, u.floor_area_m2, u.room,
               (SELECT array_agg(ARRAY[p.party_id, p.valid_from::text,
                                       coalesce(p.valid_to::text, '')] ORDER BY p.valid_from)
                  FROM unit_parties p WHERE p.unit_id = u.unit_id AND p.pays
                   AND p.valid_from <= $4 AND (p.valid_to IS NULL OR p.valid_to >= $3)) AS payers,
               (SELECT array_agg(ARRAY[o.party_id, o.valid_from::text,
                                       coalesce(o.valid_to::text, '')] ORDER BY o.valid_from)
                  FROM unit_parties o WHERE o.unit_id = u.unit_id AND o.role = 'owner'
                   AND o.valid_from <= $4 AND (o.valid_to IS NULL OR o.valid_to >= $3)) AS owners,
               (SELECT count(*) FROM parking_spaces s WHERE s.unit_id = u.unit_id) AS spaces,
               (SELECT array_agg(ARRAY[v.registered_on::text, coalesce(v.ended_on::text, '')]
                                 ORDER BY v.registered_on)
                  FROM vacancies v WHERE v.unit_id = u.unit_id AND v.registered_on <= $4
                   AND (v.ended_on IS NULL OR v.ended_on >= $3)) AS vacancies
          FROM units u
         WHERE u.community_id = $1 AND u.unit_id > $2 AND ($6::text IS NULL OR u.unit_id <= $6)
         ORDER BY u.unit_id
         LIMIT $5
        """,
        ctx.community["community_id"],
        after,
        period.start,
        period.end,
        limit,
        last,
    )
    if not rows:
        return []
    unit_ids = [r["unit_id"] for r in rows]
    # Readings and one-off charges are billed by their own rows, once: the run that bills
    # them names them (a later run over the same month leaves them be). Marked and read in one
    # statement: exactly what is marked is billed, even while new ones are being recorded.
    readings: dict[str, list[Reading]] = defaultdict(list)
    for m in await conn.fetch(
        "UPDATE meter_readings SET billed_run_id = $1 WHERE unit_id = ANY($2::text[]) "
        "AND period_month BETWEEN $3 AND $4 AND billed_run_id IS NULL "
        "RETURNING unit_id, item_code, period_month, previous, current",
        ctx.run_id,
        unit_ids,
        period.start,
        period.end,
    ):
        readings[m["unit_id"]].append(Reading(m["item_code"], m["previous"], m["current"]))
    extras: dict[str, list[ExtraCharge]] = defaultdict(list)
    for c in await conn.fetch(
        "UPDATE one_off_charges SET billed_run_id = $1 WHERE unit_id = ANY($2::text[]) "
        "AND period_month BETWEEN $3 AND $4 AND billed_run_id IS NULL "
        "RETURNING unit_id, item_code, quantity, description",
        ctx.run_id,
        unit_ids,
        period.start,
        period.end,
    ):
        extras[c["unit_id"]].append(ExtraCharge(c["item_code"], c["quantity"], c["description"]))
    if ctx.has_shares:
        for c in await conn.fetch(
            # Taken: an item redone finds its shares billed (gone).
            "DELETE FROM billing_run_shares WHERE run_id = $1 AND unit_id = ANY($2::text[]) "
            "RETURNING unit_id, item_code, quantity, description, amount_fen",
            ctx.run_id,
            unit_ids,
        ):
            extras[c["unit_id"]].append(
                ExtraCharge(c["item_code"], c["quantity"], c["description"], c["amount_fen"])
            )
    facts = []
    for r in rows:
        payers = _spans(r["payers"])
        # Every vacancy spell overlapping the period, with its end: a yearly bill ends the
        # discount with the vacancy, as a monthly one does.
        vacancies = tuple(
            VacancySpell(date.fromisoformat(f), date.fromisoformat(t) if t else None)
            for f, t in (r["vacancies"] or [])
        )
        facts.append(
            (
                UnitFacts(
                    r["unit_id"],
                    r["unit_type"],
                    r["floor_area_m2"],
                    payers,
                    parking_spaces=tuple(str(i) for i in range(r["spaces"])),
                    vacancies=vacancies,
                    readings=tuple(readings.get(r["unit_id"], ())),
                    extras=tuple(extras.get(r["unit_id"], ())),
                ),
                r,
            )
        )
    return facts


def _spans(rows: list[list[str]] | None) -> tuple[PayerSpan, ...]:
    return tuple(
        PayerSpan(p, date.fromisoformat(f), date.fromisoformat(t) if t else None)
        for p, f, t in (rows or [])
    )


def _owner(unit: asyncpg.Record, period: Period) -> str | None:
    """The owner for the invoice's months: the one on its first day, else the first who owns
    during it (after a sale, the seller's months stay the seller's, the buyer's the buyer's)."""
    owners = _spans(unit["owners"])
    found = next((o for o in owners if o.covers(period.start)), None)
    found = found or next(
        (
            o
            for o in owners
            if o.valid_from <= period.end and (o.valid_to is None or o.valid_to >= period.start)
        ),
        None,
    )
    return found.party_id if found else None


async def _write(
    conn: asyncpg.Connection,
    community: asyncpg.Record,
    run_id: str,
    drafts: list[tuple[DraftInvoice, asyncpg.Record]],
    issued_at: datetime,
    issued_on: date,
) -> tuple[int, int]:
    """COPY the chunk's invoices, lines and InvoiceIssued events.

    A unit's utilities collected on behalf of suppliers are an invoice of their own
    (``collection='utilities'``, its own id). ``liable_party_ids``: the payer and, when
    someone else pays (a tenant), the owner, who stays jointly liable. ``interest_from``: when
    the contract sets a late-fee rate (for utilities only when it names one for them)."""
    if not drafts:
        return 0, 0
    community_id = community["community_id"]
    contract = LateFeeContract.of(community)
    invoices, lines, events = [], [], []
    issued_text = issued_at.isoformat().replace("+00:00", "Z")
    for draft, unit in drafts:
        if draft.collection == "utilities":
            invoice_id = stable_id("inv", run_id, draft.unit_id, draft.payer_party_id, "utilities")
        else:
            invoice_id = stable_id("inv", run_id, draft.unit_id, draft.payer_party_id)
        due = month_end(draft.period.start)
        owner = _owner(unit, draft.period)
        interest_from = contract.interest_from(due, issued_on, draft.collection)
        invoices.append(
            (
                invoice_id,
                community_id,
                unit["building_id"],
                draft.unit_id,
                draft.payer_party_id,
                owner,
                run_id,
                draft.period.start,
                draft.period.end,
                due,
                draft.schedule_version,
                draft.total_fen,
                issued_at,
                draft.collection,
            )
        )
        for n, line in enumerate(draft.lines, start=1):
            lines.append(
                (
                    invoice_id,
                    n,
                    line.fee_item,
                    line.description,
                    line.quantity,
                    line.unit_price_fen,
                    line.amount_fen,
                )
            )
        # Serialised straight from the priced draft (already typed and checked): building a
        # pydantic model per invoice would be most of the cost of 100,000 events. The test
        # suite validates these payloads against InvoiceIssued.
        payload = {
            "invoice_id": invoice_id,
            "community_id": community_id,
            "building_id": unit["building_id"],
            "unit_id": draft.unit_id,
            "payer_party_id": draft.payer_party_id,
            "period_start": draft.period.start.isoformat(),
            "period_end": draft.period.end.isoformat(),
            "due_date": due.isoformat(),
            "lines": [
                {
                    "fee_item": line.fee_item,
                    "description": line.description,
                    "quantity": str(line.quantity),
                    "unit_price_fen": _whole_fen(line.unit_price_fen),
                    "amount_fen": line.amount_fen,
                    "unit_price_exact": str(line.unit_price_fen),
                }
                for line in draft.lines
            ],
            "total_fen": draft.total_fen,
            "currency": "CNY",
            "issued_at": issued_text,
            "schedule_version": str(draft.schedule_version),
            "room_label": room_label_of_key(unit["unit_key"]),
            "kind": "regular",
            "collection": draft.collection,
            "liable_party_ids": liable_parties(draft.payer_party_id, owner),
            "interest_from": interest_from.isoformat() if interest_from else None,
        }
        raw = orjson.dumps(payload)
        events.append(RawEvent(InvoiceIssued, raw, draft.unit_id, invoice_id))
    await copy_invoices(conn, invoices, RUN_INVOICE_COLUMNS, lines)
    await add_raw_events(conn, events, time=issued_at)
    return len(invoices), sum(d.total_fen for d, _ in drafts)


def audit_hook(
    principal: Principal, company_id: str, request: RunRequest, body: dict[str, Any]
) -> RunHook:
    """The audit row of a created run (``body``: the request as sent)."""

    async def audited(conn: asyncpg.Connection, summary: RunSummary) -> None:
        await audit.record(
            conn,
            principal,
            "billing_run.created",
            "billing_run",
            summary.run_id,
            community_id=request.community_id,
            company_id=company_id,
            after={
                **body,
                "as_of": request.as_of,
                "invoices": summary.invoices,
                "total_fen": summary.total_fen,
            },
        )

    return audited
