"""Billing schedules from data: each community's cycle and run day (``domain.run_calendar``),
staff setting them, one call starting every due and absent run, and the count of missing runs
for ``/metrics``.

Every operation is scoped to the caller (``Principal.sql_scope``): a company sees and starts
its own communities only; a deployment-wide service token (company ``*``) covers them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.calendar import Period
from billing.domain.run_calendar import RunSchedule, current_period, due_on, run_due
from billing.service_layer import late_fees, runs, visibility
from propfee import audit
from propfee.auth import Principal
from propfee.business_time import acts_on_own_clock, as_of_today
from propfee.logging import get_logger
from propfee.problems import ProblemError

log = get_logger(__name__)

_COMMUNITIES = """
    SELECT community_id, company_id, time_zone, contract_end,
           billing_cycle, billing_run_day, billing_run_enabled
    FROM communities
    WHERE ($1::text IS NULL OR company_id = $1) AND ($2::text[] IS NULL OR community_id = ANY($2))
    ORDER BY community_id
"""


@dataclass(frozen=True)
class CommunitySchedule:
    community_id: str
    company_id: str
    time_zone: str
    contract_end: date | None
    schedule: RunSchedule

    @classmethod
    def of(cls, row: asyncpg.Record) -> CommunitySchedule:
        return cls(
            row["community_id"],
            row["company_id"],
            row["time_zone"],
            row["contract_end"],
            RunSchedule(row["billing_cycle"], row["billing_run_day"], row["billing_run_enabled"]),
        )

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.time_zone)).date()

    def due(self, day: date) -> Period | None:
        return run_due(self.schedule, day, self.contract_end)


@dataclass(frozen=True)
class StartedRun:
    community_id: str
    as_of: date
    cycle: str
    summary: runs.RunSummary


@dataclass(frozen=True)
class DueRuns:
    checked: int
    started: list[StartedRun]
    present: int
    not_due: int
    failed: list[tuple[str, str]]


async def _schedules(conn: Any, principal: Principal | None) -> list[CommunitySchedule]:
    company, communities = principal.sql_scope() if principal else (None, None)
    return [CommunitySchedule.of(r) for r in await conn.fetch(_COMMUNITIES, company, communities)]


async def _present(conn: Any, wanted: list[tuple[CommunitySchedule, Period]]) -> set[str]:
    """The communities among ``wanted`` whose run of that period and cycle exists."""
    if not wanted:
        return set()
    rows = await conn.fetch(
        "SELECT r.community_id FROM billing_runs r "
        "JOIN unnest($1::text[], $2::date[], $3::text[]) AS w(community_id, period_start, cycle) "
        "ON r.community_id = w.community_id AND r.period_start = w.period_start "
        "AND r.cycle = w.cycle",
        [c.community_id for c, _ in wanted],
        [p.start for _, p in wanted],
        [c.schedule.cycle for c, _ in wanted],
    )
    return {r["community_id"] for r in rows}


async def get_schedule(
    conn: visibility.Conn, principal: Principal, community_id: str, now: datetime
) -> tuple[CommunitySchedule, Period, date]:
    """A community's schedule, its current period and the day that period's run is due."""
    await visibility.community(conn, principal, community_id)
    (row,) = await conn.fetch(_COMMUNITIES, None, [community_id])
    item = CommunitySchedule.of(row)
    today = item.today(now)
    return item, current_period(today, item.schedule.cycle), due_on(item.schedule, today)


async def set_schedule(
    pool: asyncpg.Pool, principal: Principal, community_id: str, schedule: RunSchedule
) -> None:
    """Change a community's billing schedule (audited; the same schedule again changes and
    audits nothing)."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await visibility.community(conn, principal, community_id)
        before = await conn.fetchrow(
            "SELECT billing_cycle AS cycle, billing_run_day AS run_day, "
            "billing_run_enabled AS enabled FROM communities WHERE community_id = $1 FOR UPDATE",
            community_id,
        )
        after = {"cycle": schedule.cycle, "run_day": schedule.run_day, "enabled": schedule.enabled}
        if before is not None and dict(before) == after:
            return  # the same schedule again: nothing changed, nothing audited
        await conn.execute(
            "UPDATE communities SET billing_cycle = $2, billing_run_day = $3, "
            "billing_run_enabled = $4 WHERE community_id = $1",
            community_id,
            schedule.cycle,
            schedule.run_day,
            schedule.enabled,
        )
        await audit.record(
            conn,
            principal,
            "billing_schedule.set",
            "billing_schedule",
            community_id,
            community_id=community_id,
            company_id=company_id,
            before=dict(before) if before else None,
            after=after,
        )


async def start_due_runs(
    pool: asyncpg.Pool, principal: Principal, requested: date | None, now: datetime
) -> DueRuns:
    """Start, for every community of the caller's scope, the run of its current period when it
    is due and absent. ``requested`` is the day (the service role: any day; staff: today in
    each community's time zone, the default, else 403). Idempotent: a run that exists is
    counted as ``present`` and never started again (``runs.run_billing`` finds it too, under
    the community's billing lock, if two calls race). A run billing refuses (a schedule gap,
    the advance cap) is reported in ``failed`` and does not stop the others."""
    async with pool.acquire() as conn:
        schedules = await _schedules(conn, principal)
    wanted: list[tuple[CommunitySchedule, Period, date]] = []
    for item in schedules:
        as_of = as_of_today(principal, requested, now, field="as_of", time_zone=item.time_zone)
        period = item.due(as_of)
        if period is not None:
            wanted.append((item, period, as_of))
    async with pool.acquire() as conn:
        present = await _present(conn, [(c, p) for c, p, _ in wanted])
    started: list[StartedRun] = []
    failed: list[tuple[str, str]] = []
    existing = 0
    for item, period, as_of in wanted:
        if item.community_id in present:
            existing += 1
            continue
        recorded_on = None if acts_on_own_clock(principal) else as_of
        request = runs.RunRequest(
            item.community_id, period.start, item.schedule.cycle, as_of, recorded_on
        )
        body = {
            "period_start": period.start,
            "cycle": item.schedule.cycle,
            "as_of": as_of,
            "scheduled": True,
        }
        try:
            summary = await runs.run_billing(
                pool,
                request,
                on_created=runs.audit_hook(principal, item.company_id, request, body),
            )
        except (ValueError, LookupError, ProblemError) as exc:
            log.warning(
                "scheduled billing run refused", community_id=item.community_id, error=str(exc)
            )
            failed.append((item.community_id, str(exc)))
            continue
        if summary.created:
            started.append(StartedRun(item.community_id, as_of, item.schedule.cycle, summary))
        else:
            existing += 1
    return DueRuns(len(schedules), started, existing, len(schedules) - len(wanted), failed)


async def count_missing(pool: asyncpg.Pool, now: datetime) -> int:
    """Communities (every company) whose run of the current period is due, in each one's own
    today, and absent: ``propfee_billing_runs_missing``."""
    async with pool.acquire() as conn:
        schedules = await _schedules(conn, None)
        wanted: list[tuple[CommunitySchedule, Period]] = []
        for item in schedules:
            period = item.due(item.today(now))
            if period is not None:
                wanted.append((item, period))
        present = await _present(conn, wanted)
    return sum(1 for item, _ in wanted if item.community_id not in present)


@dataclass(frozen=True)
class CommunityAssessment:
    community_id: str
    as_of: date
    assessment: late_fees.Assessment


async def assess_all_late_fees(
    pool: asyncpg.Pool,
    principal: Principal,
    requested: date | None,
    now: datetime,
) -> list[CommunityAssessment]:
    """Late fees accrued up to the day, for every community of the caller's scope (as
    ``late_fees.assess_audited`` does for one; staff as of each community's today)."""
    async with pool.acquire() as conn:
        schedules = await _schedules(conn, principal)
    done: list[CommunityAssessment] = []
    for item in schedules:
        as_of = as_of_today(principal, requested, now, field="as_of", time_zone=item.time_zone)
        result = await late_fees.assess_audited(
            pool, principal, item.community_id, item.company_id, as_of
        )
        done.append(CommunityAssessment(item.community_id, as_of, result))
    return done
