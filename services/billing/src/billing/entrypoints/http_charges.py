"""One-off special services on a unit, billed in the run for their month."""

from __future__ import annotations

from fastapi import APIRouter

from billing.entrypoints import models, security
from billing.entrypoints.models_billing_runs import ChargeOut
from billing.entrypoints.security import BillingWriter
from billing.service_layer import charges
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["charges"])


@router.post(
    "/units/{unit_id}/charges",
    status_code=201,
    response_model=ChargeOut,
    responses=problem_responses(409),
)
async def add_one_off_charge(
    unit_id: str, body: models.ChargeIn, pool: Pool, principal: BillingWriter
) -> ChargeOut:
    """A one-off special service, billed in the run for its month; the same charge again is
    the same charge. Audited."""
    charge = charges.OneOffCharge(unit_id=unit_id, **body.model_dump())
    async with pool.acquire() as conn, conn.transaction():
        scope = await security.unit(conn, principal, unit_id)
        charge_id = await charges.add_charge(conn, principal, scope, charge)
    return ChargeOut(charge_id=charge_id)
