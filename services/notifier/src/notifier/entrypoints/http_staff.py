"""Staff endpoints: preferences, templates (validated when saved), letters and tracking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, Field

from notifier.domain.channels import CHANNELS, Contact
from notifier.service_layer import letters, projections, templates
from propfee.http import Pool
from propfee.masking import mask_value

router = APIRouter(tags=["staff"])


class PreferencesIn(BaseModel):
    allowed_channels: list[str] | None = None
    preferred_channels: list[str] | None = None
    do_not_contact: bool | None = None
    note: str | None = None
    set_by: str = Field(description="The staff member who recorded the person's wish")


@router.put("/parties/{party_id}/preferences")
async def set_preferences(pool: Pool, party_id: str, body: PreferencesIn) -> dict[str, Any]:
    """Record what the person asked for; it wins over billing's data for this party."""
    unknown = {*(body.allowed_channels or ()), *(body.preferred_channels or ())} - set(CHANNELS)
    if unknown:
        raise HTTPException(422, f"unknown channels: {sorted(unknown)}; known: {list(CHANNELS)}")
    async with pool.acquire() as conn:
        await projections.set_preferences(
            conn,
            party_id,
            allowed=body.allowed_channels,
            preferred=body.preferred_channels,
            do_not_contact=body.do_not_contact,
            note=body.note,
            set_by=body.set_by,
        )
    return {"party_id": party_id, **body.model_dump()}


class TemplateIn(BaseModel):
    message_type: str
    stage: str | None = None
    channel: str
    locale: str = "zh-CN"
    body: str
    subject: str | None = None
    provider_codes: dict[str, str] = Field(default_factory=dict)
    created_by: str


@router.post("/templates", status_code=201)
async def save_template(request: Request, pool: Pool, body: TemplateIn) -> Any:
    """Validate and save a new version; an invalid template is refused (422) with reasons."""
    s = request.app.state.runtime.settings
    problems = [] if body.channel in CHANNELS else [f"unknown channel {body.channel}"]
    problems += templates.validate(
        body.message_type,
        body.channel,
        body.body,
        body.subject,
        sign_name=s.sms_sign_name,
        max_segments=s.sms_max_segments,
    )
    if problems:
        return JSONResponse({"detail": "template refused", "problems": problems}, status_code=422)
    tid = templates.template_id(body.message_type, body.stage, body.channel, body.locale)
    version = await pool.fetchval(
        "INSERT INTO templates (template_id, version, message_type, stage, channel, locale, "
        "subject, body, provider_codes, created_by) SELECT $1, coalesce(max(version), 0) + 1, "
        "$2, $3, $4, $5, $6, $7, $8, $9 FROM templates WHERE template_id = $1 RETURNING version",
        tid,
        body.message_type,
        body.stage or "*",
        body.channel,
        body.locale,
        body.subject,
        body.body,
        body.provider_codes,
        body.created_by,
    )
    return {"template_id": tid, "version": version}


@router.get("/templates")
async def list_templates(pool: Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM templates ORDER BY template_id, version")
    return [dict(r) for r in rows]


@router.post("/letters/batches", status_code=201)
async def create_batch(pool: Pool, as_of: datetime | None = None) -> dict[str, Any]:
    """Gather rendered letters and door notices into one print-ready PDF."""
    async with pool.acquire() as conn, conn.transaction():
        return await letters.create_batch(conn, as_of or datetime.now(UTC))


@router.get("/letters/batches/{batch_id}.pdf", response_class=Response)
async def batch_pdf(pool: Pool, batch_id: str) -> Response:
    pdf = await pool.fetchval("SELECT pdf FROM letter_batches WHERE batch_id = $1", batch_id)
    if pdf is None:
        raise HTTPException(404, "no such batch")
    return Response(pdf, media_type="application/pdf")


class TrackingIn(BaseModel):
    tracking_number: str = Field(min_length=4)
    carrier: str = "EMS"
    delivered_at: AwareDatetime | None = None


@router.post("/notifications/{notification_id}/tracking")
async def record_tracking(
    request: Request, pool: Pool, notification_id: str, body: TrackingIn
) -> dict[str, str]:
    """The postal tracking number (or hand-delivery reference): the letter's delivery proof."""
    async with pool.acquire() as conn, conn.transaction():
        result = await letters.record_tracking(
            conn,
            notification_id,
            body.tracking_number,
            body.carrier,
            body.delivered_at or datetime.now(UTC),
        )
    if result is None:
        raise HTTPException(409, "not a letter or door notice awaiting its tracking number")
    return {"notification_id": notification_id, "status": result}


@router.get("/parties/{party_id}")
async def get_party(pool: Pool, party_id: str) -> dict[str, Any]:
    """What notifier knows of a party: reachable channels and preferences (contacts masked)."""
    party = await pool.fetchrow(
        "SELECT p.*, pp.allowed_channels AS staff_allowed, "
        "pp.preferred_channels AS staff_preferred, "
        "pp.do_not_contact AS staff_dnc FROM parties p "
        "LEFT JOIN party_preferences pp USING (party_id) WHERE p.party_id = $1",
        party_id,
    )
    if party is None:
        raise HTTPException(404, "no contact data received for this party yet")
    contact = Contact(
        phone=party["phone"],
        email=party["email"],
        wechat_openid=party["wechat_openid"],
        app_user_id=party["app_user_id"],
        postal_address=party["postal_address"],
    )
    return {
        "party_id": party_id,
        "reachable_channels": [c for c in CHANNELS if contact.address_for(c)],
        "phone": mask_value(party["phone"]) if party["phone"] else None,
        "allowed_channels": party["staff_allowed"]
        if party["staff_allowed"] is not None
        else party["allowed_channels"],
        "preferred_channels": party["staff_preferred"]
        if party["staff_preferred"] is not None
        else party["preferred_channels"],
        "do_not_contact": party["staff_dnc"]
        if party["staff_dnc"] is not None
        else party["do_not_contact"],
        "locale": party["locale"],
        "updated_at": party["updated_at"],
    }
