"""Staff endpoints: preferences, templates (validated when saved), letters and tracking.
Every change is audited in its transaction (``propfee.audit``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, Field

from notifier.domain.channels import CHANNELS, Contact
from notifier.entrypoints import security
from notifier.entrypoints.security import ContactWriter, LetterClerk, Reader, TemplateWriter
from notifier.service_layer import letters, projections, templates
from propfee import audit
from propfee.auth import mask_personal
from propfee.http import Pool

router = APIRouter(tags=["staff"])


class PreferencesIn(BaseModel):
    allowed_channels: list[str] | None = None
    preferred_channels: list[str] | None = None
    do_not_contact: bool | None = None
    note: str | None = None
    set_by: str = Field(description="The staff member who recorded the person's wish")


PREFERENCE_COLUMNS = "allowed_channels, preferred_channels, do_not_contact, note, set_by"


@router.put("/parties/{party_id}/preferences")
async def set_preferences(
    pool: Pool, party_id: str, body: PreferencesIn, principal: ContactWriter
) -> dict[str, Any]:
    """Record what the person asked for; it wins over billing's data for this party. Audited
    (before and after)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await security.party(conn, principal, party_id)
        unknown = {*(body.allowed_channels or ()), *(body.preferred_channels or ())} - set(CHANNELS)
        if unknown:
            raise HTTPException(
                422, f"unknown channels: {sorted(unknown)}; known: {list(CHANNELS)}"
            )
        before = await conn.fetchrow(
            f"SELECT {PREFERENCE_COLUMNS} FROM party_preferences WHERE party_id = $1 FOR UPDATE",
            party_id,
        )
        await projections.set_preferences(
            conn,
            party_id,
            allowed=body.allowed_channels,
            preferred=body.preferred_channels,
            do_not_contact=body.do_not_contact,
            note=body.note,
            set_by=body.set_by,
        )
        await audit.record(
            conn,
            principal,
            "party.preferences_set",
            "party",
            party_id,
            community_id=row["community_id"],
            company_id=row["company_id"],
            before=dict(before) if before is not None else None,
            after=body.model_dump(),
            reason=body.note,
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
async def save_template(
    request: Request, pool: Pool, body: TemplateIn, principal: TemplateWriter
) -> Any:
    """Validate and save a new version; an invalid template is refused (422) with reasons.
    Templates serve the whole deployment (every community); the save is audited."""
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
    async with pool.acquire() as conn, conn.transaction():
        # One save at a time per template id: the next version number is taken under a lock.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", tid)
        before = await conn.fetchrow(
            "SELECT version, subject, body, provider_codes, created_by FROM templates "
            "WHERE template_id = $1 ORDER BY version DESC LIMIT 1",
            tid,
        )
        version = await conn.fetchval(
            "INSERT INTO templates (template_id, version, message_type, stage, channel, locale, "
            "subject, body, provider_codes, created_by) SELECT $1, coalesce(max(version), 0) + 1, "
            "$2, $3, $4, $5, $6, $7, $8, $9 FROM templates WHERE template_id = $1 "
            "RETURNING version",
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
        await audit.record(
            conn,
            principal,
            "template.saved",
            "template",
            tid,
            community_id=None,
            before=dict(before) if before is not None else None,
            after={"version": version, **body.model_dump()},
        )
    return {"template_id": tid, "version": version}


@router.get("/templates")
async def list_templates(pool: Pool, principal: Reader) -> list[dict[str, Any]]:
    """Every saved version (the deployment's templates: wording, no personal data)."""
    rows = await pool.fetch("SELECT * FROM templates ORDER BY template_id, version")
    return [dict(r) for r in rows]


@router.post("/letters/batches", status_code=201)
async def create_batch(
    pool: Pool, principal: LetterClerk, as_of: datetime | None = None
) -> dict[str, Any]:
    """Gather rendered letters and door notices of the caller's communities into one
    print-ready PDF. Audited (per community of the batch)."""
    at = as_of or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        batch = await letters.create_batch(
            conn,
            at,
            scope=principal.sql_scope(),
            company_id=None if principal.all_companies else principal.company_id,
        )
        if batch["batch_id"] is not None:
            ids = list(batch["notification_ids"])  # type: ignore[call-overload]
            rows = await conn.fetch(
                "SELECT n.community_id, c.company_id, array_agg(n.notification_id "
                "ORDER BY n.notification_id) AS ids FROM notifications n "
                "LEFT JOIN communities c USING (community_id) "
                "WHERE n.notification_id = ANY($1::text[]) GROUP BY n.community_id, c.company_id",
                ids,
            )
            for r in rows:
                await audit.record(
                    conn,
                    principal,
                    "letters.batched",
                    "letter_batch",
                    str(batch["batch_id"]),
                    community_id=r["community_id"],
                    company_id=r["company_id"],
                    after={"as_of": at, "notification_ids": list(r["ids"])},
                )
        return batch


@router.get("/letters/batches/{batch_id}.pdf", response_class=Response)
async def batch_pdf(pool: Pool, batch_id: str, principal: LetterClerk) -> Response:
    """A print batch's PDF (to callers who see every community of its letters)."""
    row = await security.batch(pool, principal, batch_id)
    return Response(row["pdf"], media_type="application/pdf")


class TrackingIn(BaseModel):
    tracking_number: str = Field(min_length=4)
    carrier: str = "EMS"
    delivered_at: AwareDatetime | None = None


@router.post("/notifications/{notification_id}/tracking")
async def record_tracking(
    pool: Pool, notification_id: str, body: TrackingIn, principal: LetterClerk
) -> dict[str, str]:
    """The postal tracking number (or hand-delivery reference): the letter's delivery proof.
    Audited."""
    async with pool.acquire() as conn, conn.transaction():
        row = await security.notification(conn, principal, notification_id)
        at = body.delivered_at or datetime.now(UTC)
        result = await letters.record_tracking(
            conn, notification_id, body.tracking_number, body.carrier, at
        )
        if result == "delivered":
            await audit.record(
                conn,
                principal,
                "letter.tracking_recorded",
                "notification",
                notification_id,
                community_id=row["community_id"],
                unit_id=row["unit_id"],
                company_id=row["company_id"],
                before={"status": row["status"], "tracking_number": row["tracking_number"]},
                after={
                    "status": "delivered",
                    "tracking_number": body.tracking_number,
                    "carrier": body.carrier,
                    "delivered_at": at,
                },
            )
    if result is None:
        raise HTTPException(409, "not a letter or door notice awaiting its tracking number")
    return {"notification_id": notification_id, "status": result}


#: What a party's record holds that is personal (masked for roles outside CONTACT_ROLES).
CONTACT_FIELDS = ("name", "phone", "email", "wechat_openid", "app_user_id", "postal_address")


@router.get("/parties/{party_id}")
async def get_party(pool: Pool, party_id: str, principal: Reader) -> dict[str, Any]:
    """What notifier knows of a party: its contacts (masked for roles that do not see contact
    data), reachable channels and effective preferences."""
    await security.party(pool, principal, party_id)
    party = await pool.fetchrow(
        "SELECT p.*, pp.allowed_channels AS staff_allowed, "
        "pp.preferred_channels AS staff_preferred, "
        "pp.do_not_contact AS staff_dnc FROM parties p "
        "LEFT JOIN party_preferences pp USING (party_id) WHERE p.party_id = $1",
        party_id,
    )
    if party is None:
        raise HTTPException(404, f"party {party_id} not found")
    contact = Contact(
        phone=party["phone"],
        email=party["email"],
        wechat_openid=party["wechat_openid"],
        app_user_id=party["app_user_id"],
        postal_address=party["postal_address"],
    )
    return mask_personal(
        principal,
        {
            "party_id": party_id,
            "community_id": party["community_id"],
            "kind": party["kind"],
            **{f: party[f] for f in CONTACT_FIELDS},
            "reachable_channels": [c for c in CHANNELS if contact.address_for(c)],
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
        },
        CONTACT_FIELDS,
    )
