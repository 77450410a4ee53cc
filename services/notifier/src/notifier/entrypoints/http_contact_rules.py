"""Contact rules per community: quiet hours and the reminder cap the dispatcher applies to
that community's messages instead of the service's settings. Read by staff; set by customer
service, community managers and company admins (audited)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from notifier.entrypoints.models import ContactRules
from notifier.entrypoints.security import ContactWriter, Reader
from notifier.service_layer import community_rules
from notifier.settings import NotifierSettings
from propfee.http import Pool

router = APIRouter(tags=["contact-rules"])


def _settings(request: Request) -> NotifierSettings:
    settings: NotifierSettings = request.app.state.runtime.settings
    return settings


@router.get("/communities/{community_id}/contact-rules")
async def get_contact_rules(
    request: Request, pool: Pool, community_id: str, principal: Reader
) -> ContactRules:
    """The rules in force for the community (its own, or the service's defaults)."""
    rules = await community_rules.rules_in_force(pool, principal, community_id, _settings(request))
    return ContactRules(**rules)


@router.put("/communities/{community_id}/contact-rules")
async def set_contact_rules(
    request: Request,
    pool: Pool,
    community_id: str,
    body: community_rules.ContactRulesIn,
    principal: ContactWriter,
) -> ContactRules:
    """Set the community's quiet hours (its local time) and reminder cap; refused (422,
    ``problems`` lists every reason) when invalid. Messages already deferred are decided again
    when due. Audited."""
    rules = await community_rules.set_rules(pool, principal, community_id, body, _settings(request))
    return ContactRules(**rules)
