"""Meter readings (pass-through utilities) and shared meters' use (公摊) for the next run."""

from __future__ import annotations

from fastapi import APIRouter

from billing.entrypoints import models, security
from billing.entrypoints.models_billing_runs import ReadingsOut
from billing.entrypoints.security import ReadingsWriter
from billing.service_layer import readings
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["meter-readings"])


@router.post(
    "/communities/{community_id}/meter-readings",
    status_code=201,
    response_model=ReadingsOut,
    responses=problem_responses(409),
)
async def record_meter_readings(
    community_id: str, body: list[models.ReadingIn], pool: Pool, principal: ReadingsWriter
) -> ReadingsOut:
    """Meter readings for pass-through utilities; a reading below the previous one is refused
    (422). Audited."""
    rows = [readings.Reading(**r.model_dump()) for r in body]
    readings.check_readings(rows)
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        count = await readings.record_readings(conn, principal, community_id, company_id, rows)
    return ReadingsOut(readings=count)


@router.post(
    "/communities/{community_id}/shared-meter-readings",
    status_code=201,
    response_model=ReadingsOut,
    responses=problem_responses(409),
)
async def record_shared_meter_readings(
    community_id: str, body: list[models.SharedReadingIn], pool: Pool, principal: ReadingsWriter
) -> ReadingsOut:
    """A shared meter's use (公摊), split over the units in scope by floor area when billed.
    Audited."""
    rows = [readings.SharedReading(**r.model_dump()) for r in body]
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        count = await readings.record_shared_readings(
            conn, principal, community_id, company_id, rows
        )
    return ReadingsOut(readings=count)
