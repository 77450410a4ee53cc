"""Fee schedules (明码标价): publishing the next version, importing the versions a community
had before Propfee, and the history."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response

from billing.domain.schedule import FeeItem, recording_date
from billing.entrypoints import models, security
from billing.entrypoints.common import today
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.models_fee_schedules import (
    FeeItemOut,
    FeeScheduleOut,
    ScheduleImportOut,
    ScheduleVersionRef,
)
from billing.entrypoints.security import Reader, ScheduleImporter, ScheduleWriter
from billing.service_layer import schedules
from propfee.business_time import acts_on_own_clock
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter(tags=["fee-schedules"])


def _version(body: models.ScheduleVersionIn, published_on: date) -> schedules.VersionIn:
    return schedules.VersionIn(
        published_on=published_on,
        effective_from=body.effective_from,
        approval_ref=body.approval_ref,
        items=tuple(FeeItem(**i.model_dump()) for i in body.items),
        pricing_type=body.pricing_type,
        service_level=body.service_level,
        legal_basis=body.legal_basis,
        complaint_line=body.complaint_line,
    )


@router.post(
    "/communities/{community_id}/fee-schedules",
    status_code=201,
    response_model=ScheduleVersionRef,
    responses=problem_responses(409),
)
async def publish_fee_schedule(
    community_id: str, body: models.ScheduleIn, pool: Pool, principal: ScheduleWriter
) -> ScheduleVersionRef:
    """Publish the next version of the community's schedule (明码标价), recorded today in the
    community's time zone (``published_on`` omitted or today; another day is 422, whoever
    asks: the 30 days' notice runs from the day of recording); effective no earlier than 30
    days later, with its approval reference. The service role on the simulation clock records
    as of the day it sends. The schedules a community had before Propfee: ``.../import``.
    Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            company_id = await security.community(conn, principal, community_id)
            published_on = recording_date(
                body.published_on,
                await today(conn, community_id),
                own_clock=acts_on_own_clock(principal),
            )
            schedule = await schedules.publish_audited(
                conn,
                principal,
                community_id,
                company_id,
                _version(body, published_on),
                body.model_dump(),
            )
    return ScheduleVersionRef(schedule_id=schedule.schedule_id, version=schedule.version)


@router.post(
    "/communities/{community_id}/fee-schedules/import",
    status_code=201,
    response_model=ScheduleImportOut,
    responses=problem_responses(409),
)
async def import_fee_schedules(
    community_id: str, body: models.ScheduleImportIn, pool: Pool, principal: ScheduleImporter
) -> ScheduleImportOut:
    """Import the schedules the community had before it came to Propfee, oldest first, with
    their original publication dates (each valid after the one before, none after today):
    once per community and only before any version is recorded in Propfee (409 otherwise), by
    a company-level role (a company admin for every community, or the service role: 403
    otherwise), with the import's approval reference. Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            company_id = await security.community(conn, principal, community_id)
            imported = await schedules.import_audited(
                conn,
                principal,
                community_id,
                company_id,
                [_version(v, v.published_on) for v in body.versions],
                [v.model_dump() for v in body.versions],
                approval_ref=body.approval_ref,
                today=await today(conn, community_id),
            )
    return ScheduleImportOut(
        imported=[
            ScheduleVersionRef(schedule_id=s.schedule_id, version=s.version) for s in imported
        ],
        approval_ref=body.approval_ref,
    )


@router.get("/communities/{community_id}/fee-schedules", response_model=Page[FeeScheduleOut])
async def list_fee_schedules(
    community_id: str,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    request: Request,
    response: Response,
) -> Page[FeeScheduleOut]:
    """Every published version, oldest first (the history is kept), a page at a time."""
    after = page.after_as(int)
    async with pool.acquire() as conn:
        await security.community(conn, principal, community_id)
        history = await schedules.load_history(
            conn, community_id, after_version=after[0] if after else None, limit=page.fetch
        )
    versions = [
        FeeScheduleOut(
            schedule_id=s.schedule_id,
            version=s.version,
            published_on=s.published_on,
            effective_from=s.effective_from,
            approval_ref=s.approval_ref,
            pricing_type=s.pricing_type,
            service_level=s.service_level,
            legal_basis=s.legal_basis,
            complaint_line=s.complaint_line,
            items=[
                FeeItemOut(
                    code=i.code,
                    name=i.name,
                    kind=i.kind,
                    unit_type=i.unit_type,
                    rate_fen=str(i.rate_fen),
                    pass_through=i.pass_through,
                    supplier_tariff_fen=None
                    if i.supplier_tariff_fen is None
                    else str(i.supplier_tariff_fen),
                    tariff_source=i.tariff_source or None,
                )
                for i in s.items
            ],
        )
        for s in history.versions
    ]
    return page.build(versions, key=lambda s: [s.version], request=request, response=response)
