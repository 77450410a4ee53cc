"""Staff endpoints: preferences, templates (validated when saved), letters and tracking.
Every change is audited in its transaction (``propfee.audit``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, Field

from notifier.domain.channels import CHANNELS, Contact
from notifier.entrypoints import security
from notifier.entrypoints.security import (
    ContactWriter,
    LetterClerk,
    LetterRecorder,
    Reader,
    TemplateWriter,
)
from notifier.service_layer import letters, projections, template_check, templates
from notifier.settings import NotifierSettings
from propfee import audit, business_time
from propfee.auth import Principal, mask_personal, not_found
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
    message_type: str = Field(max_length=64)
    stage: str | None = Field(default=None, max_length=64)
    channel: str = Field(max_length=32)
    locale: str = Field(default="zh-CN", max_length=16)
    body: str = Field(max_length=20_000)
    subject: str | None = Field(default=None, max_length=2_000)
    provider_codes: dict[str, str] = Field(default_factory=dict)
    created_by: str | None = Field(
        default=None, max_length=200, description="Display name of the author (default: token)"
    )
    company_id: str | None = Field(
        default=None,
        max_length=200,
        description="The company the template belongs to: the caller's own (default); only a "
        "deployment-wide service token names another",
    )


def _template_company(principal: Principal, requested: str | None) -> str:
    """The company a template is saved for: the caller's own; a deployment-wide token must
    name one. Another company's id answers 404 (as if it did not exist)."""
    if principal.all_companies:
        if not requested:
            raise HTTPException(422, "company_id: a deployment-wide token must name the company")
        return requested
    if requested is not None and requested != principal.company_id:
        raise not_found(f"company {requested}")
    return principal.company_id


TEMPLATE_COLUMNS = (
    "template_version_id, company_id, template_id, version, status, message_type, stage, "
    "channel, locale, subject, body, provider_codes, created_by, author, created_at, "
    "approved_by, approved_at"
)


@router.post("/templates", status_code=201)
async def save_template(
    request: Request, pool: Pool, body: TemplateIn, principal: TemplateWriter
) -> Any:
    """Validate and save a new version of the company's template, as a **draft**: it renders
    only once a second company-level person approves it
    (``POST /template-versions/{id}/approve``). Refused (422) with every reason: syntax,
    unknown variables, SMS content and length (a bill or reminder SMS beyond one segment with
    the sample values), forbidden wording, no sender identity or dispute contact, an id,
    placeholder or negative number in the sample rendering, or a sample rendering beyond the
    time, memory or output limits (named). Saved with ``warnings`` when an SMS of another type
    takes more than one segment. Needs a company-level role; audited."""
    security.require_company_level(principal, "saving a template")
    s: NotifierSettings = request.app.state.runtime.settings
    company = _template_company(principal, body.company_id)
    async with pool.acquire() as conn:
        found = await template_check.check_for_company(
            conn,
            s,
            company,
            message_type=body.message_type,
            channel=body.channel,
            body=body.body,
            subject=body.subject,
        )
    if found.problems:
        return JSONResponse(
            {"detail": "template refused", "problems": found.problems}, status_code=422
        )
    tid = templates.template_id(body.message_type, body.stage, body.channel, body.locale)
    version_id = f"tv-{uuid.uuid4()}"
    async with pool.acquire() as conn, conn.transaction():
        # One save at a time per company and template id: the next version number is taken
        # under a lock.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))", company, tid)
        before = await conn.fetchrow(
            "SELECT version, status, subject, body, provider_codes, author FROM templates "
            "WHERE company_id = $1 AND template_id = $2 ORDER BY version DESC LIMIT 1",
            company,
            tid,
        )
        version = await conn.fetchval(
            "INSERT INTO templates (template_version_id, company_id, template_id, version, "
            "message_type, stage, channel, locale, subject, body, provider_codes, created_by, "
            "author, status) SELECT $1, $2, $3, coalesce(max(version), 0) + 1, $4, $5, $6, $7, "
            "$8, $9, $10, $11, $12, 'draft' FROM templates "
            "WHERE company_id = $2 AND template_id = $3 RETURNING version",
            version_id,
            company,
            tid,
            body.message_type,
            body.stage or "*",
            body.channel,
            body.locale,
            body.subject,
            body.body,
            body.provider_codes,
            body.created_by or principal.subject,
            principal.subject,
        )
        await audit.record(
            conn,
            principal,
            "template.saved",
            "template",
            tid,
            community_id=None,
            company_id=company,
            before=dict(before) if before is not None else None,
            after={
                "template_version_id": version_id,
                "version": version,
                "status": "draft",
                **body.model_dump(exclude={"company_id"}),
            },
        )
    return {
        "template_version_id": version_id,
        "template_id": tid,
        "version": version,
        "company_id": company,
        "status": "draft",
        # Saved, but worth knowing: an SMS receipt or confirmation of two segments costs twice.
        "warnings": found.warnings,
    }


class ApprovalIn(BaseModel):
    note: str | None = Field(default=None, max_length=1_000, description="Why (audited)")


@router.post("/template-versions/{template_version_id}/approve")
async def approve_template(
    request: Request,
    pool: Pool,
    template_version_id: str,
    principal: TemplateWriter,
    body: ApprovalIn | None = None,
) -> Any:
    """Approve a draft version of the caller's company's template: from now on it renders
    for the company's messages (its highest approved version wins). A second person: the
    author may not approve it (403); a company-level role; 404 for another company's (or no
    such) version; 409 when it is approved already or a later version is. Checked again as at
    save (a draft saved under an older check, or before the company's name or contacts
    changed): refused (422) with every problem. Audited."""
    security.require_company_level(principal, "approving a template")
    s: NotifierSettings = request.app.state.runtime.settings
    async with pool.acquire() as conn:
        # A version's text never changes: checked before the transaction (the check runs in a
        # child process; no row lock is held meanwhile).
        draft = await conn.fetchrow(
            "SELECT company_id, message_type, channel, body, subject, status, author "
            "FROM templates WHERE template_version_id = $1",
            template_version_id,
        )
        if (
            draft is not None
            and draft["company_id"] is not None
            and (principal.all_companies or draft["company_id"] == principal.company_id)
            and draft["status"] == "draft"
            and draft["author"] != principal.subject
        ):
            problems = (
                await template_check.check_for_company(
                    conn,
                    s,
                    draft["company_id"],
                    message_type=draft["message_type"],
                    channel=draft["channel"],
                    body=draft["body"],
                    subject=draft["subject"],
                )
            ).problems
            if problems:
                return JSONResponse(
                    {"detail": "template refused", "problems": problems}, status_code=422
                )
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {TEMPLATE_COLUMNS} FROM templates WHERE template_version_id = $1 FOR UPDATE",
            template_version_id,
        )
        if row is None or not (
            principal.all_companies or row["company_id"] == principal.company_id
        ):
            raise not_found(f"template version {template_version_id}")
        if row["company_id"] is None:
            raise HTTPException(409, "this version belongs to no company: save it again")
        if row["author"] == principal.subject:
            raise HTTPException(403, "a template is approved by a second person, not by its author")
        if row["status"] == "approved":
            raise HTTPException(409, f"version {row['version']} is approved already")
        later = await conn.fetchval(
            "SELECT max(version) FROM templates WHERE company_id = $1 AND template_id = $2 "
            "AND status = 'approved' AND version > $3",
            row["company_id"],
            row["template_id"],
            row["version"],
        )
        if later is not None:
            raise HTTPException(
                409, f"version {later} is approved already; save a new version instead"
            )
        approved_at = await conn.fetchval(
            "UPDATE templates SET status = 'approved', approved_by = $2, approved_at = now() "
            "WHERE template_version_id = $1 RETURNING approved_at",
            template_version_id,
            principal.subject,
        )
        await audit.record(
            conn,
            principal,
            "template.approved",
            "template",
            row["template_id"],
            community_id=None,
            company_id=row["company_id"],
            before={"status": "draft", "version": row["version"], "author": row["author"]},
            after={
                "status": "approved",
                "template_version_id": template_version_id,
                "version": row["version"],
                "approved_by": principal.subject,
                "approved_at": approved_at,
            },
            reason=body.note if body else None,
        )
    return {
        **{k: row[k] for k in ("template_version_id", "company_id", "template_id", "version")},
        "status": "approved",
        "author": row["author"],
        "approved_by": principal.subject,
        "approved_at": approved_at,
    }


@router.get("/templates")
async def list_templates(
    pool: Pool,
    principal: Reader,
    status: Annotated[str | None, Query(max_length=16)] = None,
    template_id: Annotated[str | None, Query(max_length=200)] = None,
    company_id: Annotated[str | None, Query(max_length=200)] = None,
) -> list[dict[str, Any]]:
    """Every saved version of the caller's company's templates (drafts and approved; the
    wording, no personal data); a deployment-wide token sees every company's (or
    ``company_id``'s)."""
    company = None if principal.all_companies else principal.company_id
    rows = await pool.fetch(
        f"SELECT {TEMPLATE_COLUMNS} FROM templates "
        "WHERE ($1::text IS NULL OR company_id = $1) AND ($2::text IS NULL OR company_id = $2) "
        "AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR template_id = $4) "
        "ORDER BY company_id, template_id, version LIMIT 1000",
        company,
        company_id,
        status,
        template_id,
    )
    return [dict(r) for r in rows]


@router.post("/letters/batches", status_code=201)
async def create_batch(
    pool: Pool, principal: LetterRecorder, as_of: datetime | None = None
) -> dict[str, Any]:
    """Gather rendered letters and door notices of the caller's communities into one
    print-ready PDF: those rendered by now (staff; a chosen ``as_of`` is the service role's
    alone, 403 otherwise). Audited (per community of the batch)."""
    if as_of is not None and as_of.tzinfo is None:
        raise HTTPException(422, "as_of needs a time zone offset (RFC 3339)")
    at = business_time.as_of_now(principal, as_of, datetime.now(UTC), field="as_of")
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
    tracking_number: str = Field(min_length=4, max_length=100)
    carrier: str = Field(default="EMS", max_length=50)
    posted_at: AwareDatetime | None = Field(
        default=None,
        description="When it was posted (default: now). Staff may back-date it within the "
        "company's window (backdate_days, default 7) and never forward-date it (403); the "
        "time it was recorded is kept too",
    )
    delivered_at: AwareDatetime | None = Field(
        default=None,
        description="Deprecated: read as posted_at. A tracking number means posted, not "
        "delivered; record the delivery with POST /notifications/{id}/delivery",
    )


@router.post("/notifications/{notification_id}/tracking")
async def record_tracking(
    pool: Pool, notification_id: str, body: TrackingIn, principal: LetterRecorder
) -> dict[str, str]:
    """The postal tracking number: the letter is posted, not delivered (its delivery is
    recorded with proof by ``POST /notifications/{notification_id}/delivery``). Audited."""
    async with pool.acquire() as conn, conn.transaction():
        row = await security.notification(conn, principal, notification_id)
        now = datetime.now(UTC)
        at = business_time.business_instant(
            principal,
            body.posted_at or body.delivered_at,
            now,
            field="posted_at",
            backdate_days=row["backdate_days"],
        )
        result = await letters.record_tracking(
            conn, notification_id, body.tracking_number, body.carrier, at
        )
        if result == "posted":
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
                    "status": "posted",
                    "tracking_number": body.tracking_number,
                    "carrier": body.carrier,
                    "posted_at": at,
                    "recorded_at": now,
                },
            )
    if result is None:
        raise HTTPException(409, "not a letter or door notice awaiting its tracking number")
    return {"notification_id": notification_id, "status": result}


class DeliveryIn(BaseModel):
    delivered_at: AwareDatetime | None = Field(
        default=None,
        description="When it was delivered (default: now); a business time like posted_at",
    )
    carrier_status: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="The carrier's delivery status (EMS 妥投, signed); the letter must be posted",
    )  # fmt: skip
    receipt_reference: str | None = Field(
        default=None, min_length=1, max_length=500,
        description="A signed receipt: its scan's reference (or the receipt number)",
    )  # fmt: skip
    signed_by: str | None = Field(default=None, min_length=1, max_length=200)


@router.post("/notifications/{notification_id}/delivery")
async def record_delivery(
    pool: Pool, notification_id: str, body: DeliveryIn, principal: LetterRecorder
) -> dict[str, str]:
    """A letter's (or door notice's) delivery, with proof: the carrier's delivery status or a
    signed receipt with its scan or reference (422 without either). Publishes
    NotificationDelivered with that proof: only now does dunning count it as a delivered
    demand. 409 when it is not a letter awaiting delivery; a delivered one is unchanged.
    Audited."""
    if not (body.carrier_status or body.receipt_reference):
        raise HTTPException(
            422, "a delivery needs carrier_status (the carrier's delivery status) or "
            "receipt_reference (the signed receipt's scan or reference)",
        )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        row = await security.notification(conn, principal, notification_id)
        now = datetime.now(UTC)
        at = business_time.business_instant(
            principal,
            body.delivered_at,
            now,
            field="delivered_at",
            backdate_days=row["backdate_days"],
        )
        try:
            result = await letters.record_delivery(
                conn, notification_id, at=at, carrier_status=body.carrier_status,
                receipt_reference=body.receipt_reference, signed_by=body.signed_by,
            )  # fmt: skip
        except letters.NotDeliverable as exc:
            raise HTTPException(409, str(exc)) from exc
        if result == "delivered":
            await audit.record(
                conn,
                principal,
                "letter.delivery_recorded",
                "notification",
                notification_id,
                community_id=row["community_id"],
                unit_id=row["unit_id"],
                company_id=row["company_id"],
                before={"status": row["status"]},
                after={
                    "status": "delivered", **body.model_dump(mode="json"),
                    "delivered_at": at, "recorded_at": now,
                },
            )  # fmt: skip
    if result is None:
        raise HTTPException(409, "not a letter or door notice")
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
