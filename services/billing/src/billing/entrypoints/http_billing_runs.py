"""Billing runs and late-fee assessments (the CronJobs' and fee clerks' batch work)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response

from billing.domain.calendar import Period
from billing.domain.run_calendar import RunSchedule
from billing.entrypoints import models, security
from billing.entrypoints.common import today
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.models_billing_runs import (
    BillingRunOut,
    BillingScheduleIn,
    BillingScheduleOut,
    CommunityLateFeesOut,
    DueRunsIn,
    DueRunsOut,
    LateFeeAssessmentOut,
    LateFeeAssessmentsOut,
    RefusedRunOut,
    RunItemErrorOut,
    StartedRunOut,
)
from billing.entrypoints.security import Reader, RunScheduleWriter, RunStarter
from billing.service_layer import late_fees, run_schedules, runs
from billing.settings import BillingSettings
from propfee.business_time import acts_on_own_clock, as_of_today, utc_now
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter()


@router.post(
    "/communities/{community_id}/billing-runs",
    status_code=201,
    response_model=BillingRunOut,
    tags=["billing-runs"],
    responses={
        200: {"description": "The run had been made already: nothing new.", "model": BillingRunOut},
        **problem_responses(409),
    },
)
async def create_billing_run(
    community_id: str,
    body: models.RunIn,
    pool: Pool,
    request: Request,
    response: Response,
    principal: RunStarter,
) -> BillingRunOut:
    """Bill every unit for one period as of a date; the same run again creates nothing (200).
    Staff run as of today (``as_of`` omitted or today: 403 otherwise); the service role as of
    any day (the simulation clock). The period is the caller's choice, within the community's
    advance-collection cap counted from the day of recording (422 past it or past the contract's
    end). A unit-month already billed for a fee item (a monthly run before a quarterly one, a
    manual invoice) is skipped: ``skipped`` counts those unit-month-items. Audited.
    A run of more units than a work item holds (``BILLING_RUN_ITEM_UNITS``) answers at once,
    ``state = running``: its items are billed by every billing process in the background;
    ``GET`` the run for its progress. Another run of the community still running: 409."""
    company_id = await security.community(pool, principal, community_id)
    as_of = as_of_today(
        principal,
        body.as_of,
        utc_now(),
        field="as_of",
        time_zone=await security.time_zone(pool, community_id),
    )
    # The advance-collection cap counts from the day of recording: the community's today,
    # or the simulation clock's day for the service role.
    recorded_on = None if acts_on_own_clock(principal) else await today(pool, community_id)
    run = runs.RunRequest(community_id, body.period_start, body.cycle, as_of, recorded_on)
    with domain_errors():
        summary = await runs.run_billing(
            pool,
            run,
            item_units=_item_units(request),
            on_created=runs.audit_hook(principal, company_id, run, body.model_dump()),
        )
    if not summary.created:
        response.status_code = 200
    return BillingRunOut(**summary.__dict__)


@router.get(
    "/communities/{community_id}/billing-runs/{run_id}",
    response_model=BillingRunOut,
    tags=["billing-runs"],
)
async def get_billing_run(
    community_id: models.Id, run_id: models.Id, pool: Pool, principal: Reader
) -> BillingRunOut:
    """A billing run and its progress: ``state`` (running while work items are pending),
    items done of the total, invoices and their total so far, the refused items' errors."""
    await security.community(pool, principal, community_id)
    summary, errors = await runs.progress(pool, community_id, run_id)
    return BillingRunOut(
        **summary.__dict__,
        errors=[RunItemErrorOut(item_no=e.item_no, error=e.error) for e in errors],
    )


@router.post(
    "/communities/{community_id}/late-fee-assessments",
    response_model=LateFeeAssessmentOut,
    tags=["late-fees"],
)
async def assess_late_fees(
    community_id: str, body: models.AssessIn, pool: Pool, principal: RunStarter
) -> LateFeeAssessmentOut:
    """Publish billing.late-fee-assessed for every overdue invoice whose accrued late fee
    changed since the last assessment, as of the date (only where the contract sets a rate).
    Staff assess as of today (``as_of`` omitted or today: 403 otherwise); the service role as
    of any day. Audited."""
    company_id = await security.community(pool, principal, community_id)
    as_of = as_of_today(
        principal,
        body.as_of,
        utc_now(),
        field="as_of",
        time_zone=await security.time_zone(pool, community_id),
    )
    with domain_errors():
        result = await late_fees.assess_audited(pool, principal, community_id, company_id, as_of)
    return LateFeeAssessmentOut(as_of=as_of, **result.__dict__)


@router.get(
    "/communities/{community_id}/billing-schedule",
    response_model=BillingScheduleOut,
    tags=["billing-runs"],
)
async def get_billing_schedule(
    community_id: models.Id, pool: Pool, principal: Reader
) -> BillingScheduleOut:
    """The community's billing schedule (its runs' cycle and the day of the period they fall
    due), its current period in its own today, and the day that period's run is due."""
    item, period, due = await run_schedules.get_schedule(pool, principal, community_id, utc_now())
    return _schedule_out(item, period, due)


@router.put(
    "/communities/{community_id}/billing-schedule",
    response_model=BillingScheduleOut,
    tags=["billing-runs"],
)
async def set_billing_schedule(
    community_id: models.Id, body: BillingScheduleIn, pool: Pool, principal: RunScheduleWriter
) -> BillingScheduleOut:
    """Set the community's billing schedule: ``POST /billing-runs/due`` starts its run of
    each period from ``run_day`` on. Company admins (and the service role). Audited."""
    with domain_errors():
        schedule = RunSchedule(body.cycle, body.run_day, body.enabled)
    await run_schedules.set_schedule(pool, principal, community_id, schedule)
    return await get_billing_schedule(community_id, pool, principal)


@router.post(
    "/billing-runs/due",
    response_model=DueRunsOut,
    tags=["billing-runs"],
)
async def start_due_billing_runs(body: DueRunsIn, pool: Pool, principal: RunStarter) -> DueRunsOut:
    """Start, for every community of the caller's scope, its run of the current period when
    the run is due by the community's schedule (``/communities/{id}/billing-schedule``) and
    absent. The same call again starts nothing (``present``). Staff run as of today (each
    community's, ``as_of`` omitted or today: 403 otherwise); the service role as of any day.
    A run billing refuses is listed in ``failed``; the others still start. Each started run
    is audited as ``POST /communities/{id}/billing-runs`` is."""
    result = await run_schedules.start_due_runs(pool, principal, body.as_of, utc_now())
    return DueRunsOut(
        checked=result.checked,
        started=[
            StartedRunOut(
                community_id=s.community_id, cycle=s.cycle, as_of=s.as_of, **s.summary.__dict__
            )
            for s in result.started
        ],
        present=result.present,
        not_due=result.not_due,
        failed=[RefusedRunOut(community_id=c, reason=r) for c, r in result.failed],
    )


@router.post(
    "/late-fee-assessments",
    response_model=LateFeeAssessmentsOut,
    tags=["late-fees"],
)
async def assess_all_late_fees(
    body: models.AssessIn, pool: Pool, principal: RunStarter
) -> LateFeeAssessmentsOut:
    """``POST /communities/{id}/late-fee-assessments`` for every community of the caller's
    scope, one after the other (staff as of each community's today; the service role as of
    any day). Audited per community, as there."""
    with domain_errors():
        done = await run_schedules.assess_all_late_fees(pool, principal, body.as_of, utc_now())
    return LateFeeAssessmentsOut(
        communities=[
            CommunityLateFeesOut(
                community_id=d.community_id, as_of=d.as_of, **d.assessment.__dict__
            )
            for d in done
        ]
    )


def _schedule_out(
    item: run_schedules.CommunitySchedule, period: Period, due: date
) -> BillingScheduleOut:
    return BillingScheduleOut(
        community_id=item.community_id,
        cycle=item.schedule.cycle,
        run_day=item.schedule.run_day,
        enabled=item.schedule.enabled,
        period_start=period.start,
        period_end=period.end,
        due_on=due,
    )


def _item_units(request: Request) -> int:
    settings = request.app.state.runtime.settings
    return settings.run_item_units if isinstance(settings, BillingSettings) else runs.CHUNK
