"""Companies: their name, credit code, back-dating window and vacancy rules (company-level
roles change them). Parse, call the use case (``service_layer.companies``), answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from billing.entrypoints import models
from billing.entrypoints.security import CompanyWriter, Reader
from billing.service_layer import companies
from propfee.http import Pool

router = APIRouter(tags=["companies"])


@router.get("/companies/{company_id}")
async def get_company(company_id: models.Id, pool: Pool, principal: Reader) -> models.CompanyOut:
    """The caller's company: its name, credit code, back-dating window and vacancy rules."""
    return models.CompanyOut(**await companies.company_with_rules(pool, principal, company_id))


@router.put("/companies/{company_id}")
async def update_company(
    company_id: models.Id, body: models.CompanyIn, pool: Pool, principal: CompanyWriter
) -> models.CompanyOut:
    """Change company data (company-level roles only): its name, its unified social credit
    code (check character verified, 422 naming ``credit_code`` otherwise), and
    ``backdate_days``, the days its staff may back-date a record (0-31, default 7). Published
    on every community of the company (CommunityUpdated); audited. Another company's id
    answers 404."""
    await companies.change_company(
        pool,
        principal,
        company_id,
        name=body.name,
        backdate_days=body.backdate_days,
        credit_code=body.credit_code,
    )
    return await get_company(company_id, pool, principal)


@router.put("/companies/{company_id}/vacancy-rules/{city}")
async def set_company_vacancy_rule(
    company_id: models.Id,
    city: Annotated[str, Path(min_length=1, max_length=200)],
    body: models.VacancyRuleIn,
    pool: Pool,
    principal: CompanyWriter,
) -> models.CompanyVacancyRuleOut:
    """The company's rule for registered vacant homes in a city, e.g. pay 70% after 6 months:
    applies to the company's communities in that city that have no rule of their own
    (company-level roles only; audited)."""
    await companies.set_company_vacancy_rule(
        pool, principal, company_id, city, body.after_months, body.payable_share
    )
    return models.CompanyVacancyRuleOut(company_id=company_id, city=city, **body.model_dump())
