"""A company's templates: saved as drafts (checked), approved by a second person, listed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from notifier.entrypoints.models import (
    TemplateApproved,
    TemplatePreview,
    TemplateSaved,
    TemplateVersion,
)
from notifier.entrypoints.security import Reader, TemplateWriter
from notifier.service_layer import staff
from notifier.settings import NotifierSettings
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter(tags=["templates"])


def _settings(request: Request) -> NotifierSettings:
    settings: NotifierSettings = request.app.state.runtime.settings
    return settings


@router.post("/templates", status_code=201, responses=problem_responses(404))
async def save_template(
    request: Request, pool: Pool, body: staff.TemplateIn, principal: TemplateWriter
) -> TemplateSaved:
    """Validate and save a new version of the company's template, as a **draft**: it renders
    only once a second company-level person approves it
    (``POST /template-versions/{id}/approve``). Refused (422, ``problems`` lists every
    reason): syntax, unknown variables, SMS content and length (a bill or reminder SMS beyond
    one segment with the sample values), forbidden wording, no sender identity or dispute
    contact, an id, placeholder or negative number in the sample rendering, or a sample
    rendering beyond the time, memory or output limits (named). Saved with ``warnings`` when
    an SMS of another type takes more than one segment. Needs a company-level role; 404 for
    another company's ``company_id``; audited."""
    return TemplateSaved(**await staff.save_template(pool, principal, body, _settings(request)))


@router.post("/templates/preview", responses=problem_responses(404))
async def preview_template(
    request: Request, pool: Pool, body: staff.TemplateIn, principal: TemplateWriter
) -> TemplatePreview:
    """Render a template as an owner would read it on ``channel`` (an SMS signed, with its
    segments) with sample values, through the dispatcher's rendering, in the checker's
    process and limits; with every reason saving it would be refused (``problems``: then
    ``body`` may be null) and its warnings. Saves nothing. Needs a company-level role; 404
    for another company's ``company_id``."""
    answer = await staff.preview_template(pool, principal, body, _settings(request))
    return TemplatePreview(**answer)


class ApprovalIn(BaseModel):
    note: str | None = Field(default=None, max_length=1_000, description="Why (audited)")


@router.post("/template-versions/{template_version_id}/approve", responses=problem_responses(409))
async def approve_template(
    request: Request,
    pool: Pool,
    template_version_id: str,
    principal: TemplateWriter,
    body: ApprovalIn | None = None,
) -> TemplateApproved:
    """Approve a draft version of the caller's company's template: from now on it renders
    for the company's messages (its highest approved version wins). A second person: the
    author may not approve it (403); a company-level role; 404 for another company's (or no
    such) version; 409 when it is approved already or a later version is. Checked again as at
    save (a draft saved under an older check, or before the company's name or contacts
    changed): refused (422) with every problem. Audited."""
    answer = await staff.approve_template(
        pool, principal, template_version_id, body.note if body else None, _settings(request)
    )
    return TemplateApproved(**answer)


@router.get("/templates", responses=problem_responses(404))
async def list_templates(
    request: Request,
    response: Response,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    status: Annotated[str | None, Query(max_length=16)] = None,
    template_id: Annotated[str | None, Query(max_length=200)] = None,
    company_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[TemplateVersion]:
    """Every saved version of the caller's company's templates (drafts and approved; the
    wording, no personal data), by template and version; a deployment-wide token sees every
    company's (or ``company_id``'s; another company's answers 404 to others)."""
    rows = await staff.list_templates(
        pool,
        principal,
        status=status,
        template_id=template_id,
        company_id=company_id,
        after=page.after_as(str, str, int),
        limit=page.fetch,
    )
    return page.build(
        [TemplateVersion(**r) for r in rows],
        key=lambda t: [t.company_id or "", t.template_id, t.version],
        request=request,
        response=response,
    )
