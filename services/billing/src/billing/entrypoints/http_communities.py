"""Communities: their contract terms and their own vacancy rule. Parse, call the use case
(``service_layer.companies``), answer."""

from __future__ import annotations

from fastapi import APIRouter

from billing.entrypoints import models
from billing.entrypoints.security import CommunityVacancyRuleWriter, Reader, RegistryWriter
from billing.service_layer import companies
from propfee.auth import new_ids
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["communities"])


@router.put(
    "/communities/{community_id}",
    openapi_extra=new_ids("community_id"),
    responses=problem_responses(409),
)
async def save_community(
    community_id: models.Id, body: models.CommunityIn, pool: Pool, principal: RegistryWriter
) -> models.CommunityOut:
    """Create or change a community and its contract terms; publishes CommunityUpdated.
    A community stays in its company (409); a token creates communities of its own company
    only. Renaming the company (a ``company_name`` other than the stored one) needs a
    company-level role (a company admin for every community, or the service role): 403
    otherwise. ``time_zone`` is an IANA name (422 otherwise)."""
    await companies.save_community(pool, principal, community_id, body)
    return await get_community(community_id, pool, principal)


@router.get("/communities/{community_id}")
async def get_community(
    community_id: models.Id, pool: Pool, principal: Reader
) -> models.CommunityOut:
    """A community, its terms, its company's name and back-dating window."""
    return models.CommunityOut(**await companies.community_terms(pool, principal, community_id))


@router.put("/communities/{community_id}/vacancy-rule")
async def set_community_vacancy_rule(
    community_id: models.Id,
    body: models.VacancyRuleIn,
    pool: Pool,
    principal: CommunityVacancyRuleWriter,
) -> models.CommunityVacancyRuleOut:
    """The community's own vacancy rule, in place of its company's rule for the city
    (audited)."""
    await companies.set_community_vacancy_rule(
        pool, principal, community_id, body.after_months, body.payable_share
    )
    return models.CommunityVacancyRuleOut(community_id=community_id, **body.model_dump())


@router.delete("/communities/{community_id}/vacancy-rule")
async def delete_community_vacancy_rule(
    community_id: models.Id, pool: Pool, principal: CommunityVacancyRuleWriter
) -> models.CommunityVacancyRuleRemovedOut:
    """Drop the community's own rule: its company's rule for the city applies again."""
    removed = await companies.remove_community_vacancy_rule(pool, principal, community_id)
    return models.CommunityVacancyRuleRemovedOut(community_id=community_id, removed=removed)
