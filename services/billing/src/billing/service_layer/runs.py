"""Billing runs: every unit of a community billed for one period, as of an explicit date.

Set-based: units, payers, readings and charges are read a chunk at a time in a few queries,
the pure domain prices them, and invoices, lines and their InvoiceIssued events are written
with COPY, all in ONE transaction: a run is complete or absent, never half-written, and
running it again finds it and creates nothing.
"""

from __future__ import annotations

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
from propfee.money import round_half_up
from propfee.outbox import RawEvent, add_raw_events


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


#: Called inside the run's transaction when a run was created (the audit trail's hook).
RunHook = Callable[[asyncpg.Connection, RunSummary], Awaitable[None]]


async def run_billing(
    pool: asyncpg.Pool,
    request: RunRequest,
    *,
    chunk: int = CHUNK,
    on_created: RunHook | None = None,
) -> RunSummary:
    period = Period.of_months(request.period_start, CYCLE_MONTHS[request.cycle])
    run_id = stable_id("run", request.community_id, period.start, period.end, request.cycle)
    async with pool.acquire() as conn, conn.transaction():
        await lock_billing(conn, request.community_id)
        done = await conn.fetchrow(
            "SELECT invoices, total_fen, skipped FROM billing_runs WHERE run_id = $1", run_id
        )
        if done is not None:
            return RunSummary(
                run_id,
                False,
                done["invoices"],
                done["total_fen"],
                period.start,
                period.end,
                done["skipped"],
            )
        community = await conn.fetchrow(
            # The community's own vacancy rule, else its company's for the community's city.
            "SELECT c.*, coalesce(o.after_months, v.after_months) AS after_months, "
            "CASE WHEN o.community_id IS NULL THEN v.payable_share ELSE o.payable_share END "
            "AS payable_share FROM communities c "
            "LEFT JOIN community_vacancy_rules o ON o.community_id = c.community_id "
            "LEFT JOIN company_vacancy_rules v ON v.company_id = c.company_id AND v.city = c.city "
            "WHERE c.community_id = $1",
            request.community_id,
        )
        if community is None:
            raise RunError(f"community {request.community_id} does not exist")
        _check_advance_cap(community, period, request)
        tz = ZoneInfo(community["time_zone"])
        issued_at = datetime.combine(request.as_of, time(0), tz).astimezone(UTC)
        history = await load_history(conn, request.community_id)
        if history.effective_on(period.start) is None:
            raise RunError(f"no fee schedule is effective on {period.start}")
        discounts = Discounts(
            prepayment={
                "quarterly": community["prepay_quarterly"],
                "half_yearly": community["prepay_half_yearly"],
                "yearly": community["prepay_yearly"],
            },
            vacancy_after_months=community["after_months"],
            vacancy_payable_share=community["payable_share"] or Decimal(1),
        )
        shared = await _shared_meter_shares(conn, request.community_id, period, history, run_id)
        time_based = sorted(history.codes_of(TIME_BASED))
        await conn.execute(
            "INSERT INTO billing_runs (run_id, community_id, period_start, period_end, cycle, "
            "as_of, issued_at, invoices, total_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0)",
            run_id,
            request.community_id,
            period.start,
            period.end,
            request.cycle,
            request.as_of,
            issued_at,
        )
        count = total = skipped = 0
        after = ""
        # bill_unit's memo per set of items left out (none for most units).
        caches: dict[frozenset[str], PriceCache] = {}
        while True:
            facts = await _load_units(conn, request.community_id, period, after, chunk, shared)
            if not facts:
                break
            after = facts[-1][0].unit_id
            unit_ids = [unit.unit_id for unit, _ in facts]
            # A unit-month is billed once per fee item: what is billed already is skipped.
            billed = await billed_months.billed_in(conn, unit_ids, period.start, period.end)
            skipped += sum(len(codes) for b in billed.values() for codes in b.values())
            drafts: list[tuple[DraftInvoice, asyncpg.Record]] = []
            for unit, row in facts:
                try:
                    drafts += [
                        (d, row)
                        for d in bill_unbilled(
                            unit,
                            period,
                            history,
                            billed.get(unit.unit_id, {}),
                            cycle=request.cycle,
                            discounts=discounts,
                            caches=caches,
                        )
                    ]
                except (ScheduleError, ValueError) as exc:
                    raise RunError(f"unit {row['unit_key']}: {exc}") from exc
            n, fen = await _write(conn, community, run_id, drafts, issued_at, request.as_of)
            count, total = count + n, total + fen
            await billed_months.record_run(conn, run_id, unit_ids, time_based)
            await _mark_usage_billed(conn, run_id, unit_ids, period)
        await conn.execute(
            "UPDATE billing_runs SET invoices = $2, total_fen = $3, skipped = $4 WHERE run_id = $1",
            run_id,
            count,
            total,
            skipped,
        )
        # Prepaid balances (预存) settle the new invoices at once.
        with_credit = await conn.fetch(
            "SELECT DISTINCT a.unit_id FROM account_credits a JOIN invoices i "
            "ON i.unit_id = a.unit_id AND i.run_id = $1",
            run_id,
        )
        await recompute_accounts(
            conn, [row["unit_id"] for row in with_credit], issued_at, ChangeContext("credit")
        )
        summary = RunSummary(run_id, True, count, total, period.start, period.end, skipped)
        if on_created is not None:
            await on_created(conn, summary)
    return summary


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


async def _mark_usage_billed(
    conn: asyncpg.Connection, run_id: str, unit_ids: list[str], period: Period
) -> None:
    """Readings and one-off charges are billed by their own rows, once: the run that billed
    them names them (a later run over the same month leaves them be)."""
    for table in ("meter_readings", "one_off_charges"):
        await conn.execute(
            f"UPDATE {table} SET billed_run_id = $1 WHERE unit_id = ANY($2::text[]) "
            "AND period_month BETWEEN $3 AND $4 AND billed_run_id IS NULL",
            run_id,
            unit_ids,
            period.start,
            period.end,
        )


async def _shared_meter_shares(
    conn: asyncpg.Connection,
    community_id: str,
    period: Period,
    history: ScheduleHistory,
    run_id: str,
) -> dict[str, list[ExtraCharge]]:
    """Each unit's share of the shared meters read for the period, split by floor area."""
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
    shares: dict[str, list[ExtraCharge]] = defaultdict(list)
    if not readings:
        return shares
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
    return shares


async def _load_units(
    conn: asyncpg.Connection,
    community_id: str,
    period: Period,
    after: str,
    limit: int,
    shared: dict[str, list[ExtraCharge]],
) -> list[tuple[UnitFacts, asyncpg.Record]]:
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
                   AND (v.ended_on IS NULL OR v.ended_on >= $3)) AS vacancies,
               (SELECT array_agg(ARRAY[m.item_code, m.previous::text, m.current::text])
                  FROM meter_readings m WHERE m.unit_id = u.unit_id
                   AND m.period_month BETWEEN $3 AND $4 AND m.billed_run_id IS NULL) AS readings,
               (SELECT array_agg(ARRAY[c.item_code, c.quantity::text, c.description])
                  FROM one_off_charges c WHERE c.unit_id = u.unit_id
                   AND c.period_month BETWEEN $3 AND $4 AND c.billed_run_id IS NULL) AS extras
          FROM units u
         WHERE u.community_id = $1 AND u.unit_id > $2
         ORDER BY u.unit_id
         LIMIT $5
        """,
        community_id,
        after,
        period.start,
        period.end,
        limit,
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
        readings = tuple(Reading(c, Decimal(a), Decimal(b)) for c, a, b in (r["readings"] or []))
        extras = tuple(ExtraCharge(c, Decimal(q), d) for c, q, d in (r["extras"] or []))
        facts.append(
            (
                UnitFacts(
                    r["unit_id"],
                    r["unit_type"],
                    r["floor_area_m2"],
                    payers,
                    parking_spaces=tuple(str(i) for i in range(r["spaces"])),
                    vacancies=vacancies,
                    readings=readings,
                    extras=extras + tuple(shared.get(r["unit_id"], ())),
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
