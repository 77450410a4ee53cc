"""Billing runs and late-fee assessments (the CronJobs' and fee clerks' batch work)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from billing.entrypoints import models, security
from billing.entrypoints.common import today
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.models_billing_runs import BillingRunOut, LateFeeAssessmentOut
from billing.entrypoints.security import RunStarter
from billing.service_layer import late_fees, runs
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
    community_id: str, body: models.RunIn, pool: Pool, response: Response, principal: RunStarter
) -> BillingRunOut:
    """Bill every unit for one period as of a date; the same run again creates nothing (200).
    Staff run as of today (``as_of`` omitted or today: 403 otherwise); the service role as of
    any day (the simulation clock). The period is the caller's choice, within the community's
    advance-collection cap counted from the day of recording (422 past it or past the contract's
    end). A unit-month already billed for a fee item (a monthly run before a quarterly one, a
    manual invoice) is skipped: ``skipped`` counts those unit-month-items. Audited."""
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
    request = runs.RunRequest(community_id, body.period_start, body.cycle, as_of, recorded_on)
    with domain_errors():
        summary = await runs.run_billing(
            pool,
            request,
            on_created=runs.audit_hook(principal, company_id, request, body.model_dump()),
        )
    if not summary.created:
        response.status_code = 200
    return BillingRunOut(**summary.__dict__)


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
