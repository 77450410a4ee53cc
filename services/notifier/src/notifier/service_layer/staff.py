"""Staff's use cases: a party's preferences and what notifier knows of it, the company's
templates (saved as drafts, approved by a second person), print batches, tracking numbers and
letters' deliveries. Every change is audited in its transaction (``propfee.audit``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import AwareDatetime, BaseModel, Field

from notifier.domain.channels import CHANNELS, Contact
from notifier.errors import NotALetter, TemplateRefused, TemplateStateConflict
from notifier.service_layer import access, letters, projections, template_check, templates
from notifier.settings import NotifierSettings
from propfee import audit, business_time
from propfee.auth import Principal, not_found
from propfee.problems import Conflict, FieldProblem, Forbidden, InvalidInput

# --- parties --------------------------------------------------------------------------------

PREFERENCE_COLUMNS = "allowed_channels, preferred_channels, do_not_contact, note, set_by"

#: What a party's record holds that is personal (masked for roles outside CONTACT_ROLES).
CONTACT_FIELDS = ("name", "phone", "email", "wechat_openid", "app_user_id", "postal_address")


class PreferencesIn(BaseModel):
    allowed_channels: list[str] | None = None
    preferred_channels: list[str] | None = None
    do_not_contact: bool | None = None
    note: str | None = None
    set_by: str = Field(description="The staff member who recorded the person's wish")


async def set_preferences(
    pool: asyncpg.Pool, principal: Principal, party_id: str, body: PreferencesIn
) -> dict[str, Any]:
    """Record what the person asked for; it wins over billing's data for this party.
    Audited (before and after)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await access.party(conn, principal, party_id)
        unknown = {*(body.allowed_channels or ()), *(body.preferred_channels or ())} - set(CHANNELS)
        if unknown:
            raise InvalidInput(
                f"unknown channels: {sorted(unknown)}; known: {list(CHANNELS)}",
                errors=[
                    FieldProblem(field="allowed_channels", reason=f"unknown channel {c}")
                    for c in sorted(unknown)
                ],
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


async def party_view(pool: asyncpg.Pool, principal: Principal, party_id: str) -> dict[str, Any]:
    """What notifier knows of a party: contacts (unmasked: the caller masks), reachable
    channels and effective preferences (staff's win over billing's)."""
    await access.party(pool, principal, party_id)
    party = await pool.fetchrow(
        "SELECT p.*, pp.allowed_channels AS staff_allowed, "
        "pp.preferred_channels AS staff_preferred, "
        "pp.do_not_contact AS staff_dnc FROM parties p "
        "LEFT JOIN party_preferences pp USING (party_id) WHERE p.party_id = $1",
        party_id,
    )
    if party is None:
        raise not_found(f"party {party_id}")
    contact = Contact(
        phone=party["phone"],
        email=party["email"],
        wechat_openid=party["wechat_openid"],
        app_user_id=party["app_user_id"],
        postal_address=party["postal_address"],
    )

    def effective(staff: str, billing: str) -> Any:
        return party[staff] if party[staff] is not None else party[billing]

    return {
        "party_id": party_id,
        "community_id": party["community_id"],
        "kind": party["kind"],
        **{f: party[f] for f in CONTACT_FIELDS},
        "reachable_channels": [c for c in CHANNELS if contact.address_for(c)],
        "allowed_channels": effective("staff_allowed", "allowed_channels"),
        "preferred_channels": effective("staff_preferred", "preferred_channels"),
        "do_not_contact": effective("staff_dnc", "do_not_contact"),
        "locale": party["locale"],
        "updated_at": party["updated_at"],
    }


# --- templates ------------------------------------------------------------------------------

TEMPLATE_COLUMNS = (
    "template_version_id, company_id, template_id, version, status, message_type, stage, "
    "channel, locale, subject, body, provider_codes, created_by, author, created_at, "
    "approved_by, approved_at"
)


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
        "deployment-wide token names another",
    )


def template_company(principal: Principal, requested: str | None) -> str:
    """The company a template is saved for: the caller's own; a deployment-wide token must
    name one. Another company's id answers 404 (as if it did not exist)."""
    if principal.all_companies:
        if not requested:
            raise InvalidInput(
                "company_id: a deployment-wide token must name the company",
                errors=[FieldProblem(field="company_id", reason="required for this token")],
            )
        return requested
    if requested is not None and requested != principal.company_id:
        raise not_found(f"company {requested}")
    return principal.company_id


async def save_template(
    pool: asyncpg.Pool, principal: Principal, body: TemplateIn, s: NotifierSettings
) -> dict[str, Any]:
    """Check and save a new draft version of the company's template (422 with every problem).
    Audited."""
    access.require_company_level(principal, "saving a template")
    company = template_company(principal, body.company_id)
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
        raise TemplateRefused(found.problems)
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


async def preview_template(
    pool: asyncpg.Pool, principal: Principal, body: TemplateIn, s: NotifierSettings
) -> dict[str, Any]:
    """The template as an owner would read it on its channel with sample values (the
    composer's rendering, ``templates.shown``, in the checker's process and limits), with
    every reason the check would refuse it and its warnings. Saves nothing."""
    access.require_company_level(principal, "previewing a template")
    company = template_company(principal, body.company_id)
    async with pool.acquire() as conn:
        found = await template_check.check_for_company(
            conn,
            s,
            company,
            message_type=body.message_type,
            channel=body.channel,
            body=body.body,
            subject=body.subject,
            preview=True,
        )
    shown = found.preview or {}
    return {
        "channel": body.channel,
        "subject": shown.get("subject"),
        "body": shown.get("body"),
        "sms_segments": shown.get("sms_segments"),
        "sample": shown.get("sample", {}),
        "problems": found.problems,
        "warnings": found.warnings,
    }


async def approve_template(
    pool: asyncpg.Pool,
    principal: Principal,
    template_version_id: str,
    note: str | None,
    s: NotifierSettings,
) -> dict[str, Any]:
    """Approve a draft version of the caller's company's template, by a second person;
    checked again as at save. Audited."""
    access.require_company_level(principal, "approving a template")
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
                raise TemplateRefused(problems)
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
            raise TemplateStateConflict("this version belongs to no company: save it again")
        if row["author"] == principal.subject:
            raise Forbidden("a template is approved by a second person, not by its author")
        if row["status"] == "approved":
            raise TemplateStateConflict(f"version {row['version']} is approved already")
        later = await conn.fetchval(
            "SELECT max(version) FROM templates WHERE company_id = $1 AND template_id = $2 "
            "AND status = 'approved' AND version > $3",
            row["company_id"],
            row["template_id"],
            row["version"],
        )
        if later is not None:
            raise TemplateStateConflict(
                f"version {later} is approved already; save a new version instead"
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
            reason=note,
        )
    return {
        **{k: row[k] for k in ("template_version_id", "company_id", "template_id", "version")},
        "status": "approved",
        "author": row["author"],
        "approved_by": principal.subject,
        "approved_at": approved_at,
    }


async def list_templates(
    pool: asyncpg.Pool,
    principal: Principal,
    *,
    status: str | None,
    template_id: str | None,
    company_id: str | None,
    after: Sequence[Any] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Saved versions of the caller's company's templates (every company's for a
    deployment-wide token), in (company, template, version) order after ``after``."""
    company = None if principal.all_companies else principal.company_id
    a_company, a_template, a_version = after if after is not None else (None, None, None)
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT {TEMPLATE_COLUMNS} FROM templates "
        "WHERE ($1::text IS NULL OR company_id = $1) AND ($2::text IS NULL OR company_id = $2) "
        "AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR template_id = $4) "
        "AND ($5::text IS NULL OR (coalesce(company_id, ''), template_id, version) "
        "> ($5, $6, $7)) "
        "ORDER BY coalesce(company_id, ''), template_id, version LIMIT $8",
        company,
        company_id,
        status,
        template_id,
        a_company,
        a_template,
        a_version,
        limit,
    )
    return rows


# --- letters --------------------------------------------------------------------------------


async def create_batch(
    pool: asyncpg.Pool,
    principal: Principal,
    as_of: datetime | None,
    case_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Gather rendered letters and door notices of the caller's communities (of the dunning
    cases ``case_ids`` only, when given) into one print-ready PDF. Audited (per community of
    the batch)."""
    at = business_time.as_of_now(principal, as_of, datetime.now(UTC), field="as_of")
    async with pool.acquire() as conn, conn.transaction():
        return await gather_batch(conn, principal, at, case_ids, render=True)


async def gather_batch(
    conn: asyncpg.Connection,
    principal: Principal,
    at: datetime,
    case_ids: list[str] | None,
    *,
    render: bool,
) -> dict[str, Any]:
    """In the caller's transaction: the batch of the caller's letters rendered by ``at`` (of
    the cases ``case_ids`` only, when given), audited per community; its PDF rendered now, or
    (``render`` false) later by a print job (``print_jobs``)."""
    batch = await letters.create_batch(
        conn,
        at,
        scope=principal.sql_scope(),
        company_id=None if principal.all_companies else principal.company_id,
        case_ids=None if case_ids is None else sorted(set(case_ids)),
        render=render,
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


async def batch_pdf(
    pool: asyncpg.Pool | asyncpg.Connection, principal: Principal, batch_id: str
) -> bytes:
    row = await access.batch(pool, principal, batch_id)
    if row["pdf"] is None:
        raise Conflict(f"batch {batch_id} is still being rendered by its print job")
    return bytes(row["pdf"])


async def record_tracking(
    pool: asyncpg.Pool,
    principal: Principal,
    notification_id: str,
    *,
    tracking_number: str,
    carrier: str,
    posted_at: datetime | None,
) -> str:
    """The postal tracking number: the letter is posted, not delivered. Audited."""
    async with pool.acquire() as conn, conn.transaction():
        row = await access.notification(conn, principal, notification_id)
        now = datetime.now(UTC)
        at = business_time.business_instant(
            principal, posted_at, now, field="posted_at", backdate_days=row["backdate_days"]
        )
        result = await letters.record_tracking(conn, notification_id, tracking_number, carrier, at)
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
                    "tracking_number": tracking_number,
                    "carrier": carrier,
                    "posted_at": at,
                    "recorded_at": now,
                },
            )
    if result is None:
        raise NotALetter("not a letter or door notice awaiting its tracking number")
    return result


class DeliveryProof(BaseModel):
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


async def record_delivery(
    pool: asyncpg.Pool, principal: Principal, notification_id: str, body: DeliveryProof
) -> str:
    """A letter's delivery with proof (the carrier's status or a signed receipt); publishes
    NotificationDelivered. Audited."""
    if not (body.carrier_status or body.receipt_reference):
        raise InvalidInput(
            "a delivery needs carrier_status (the carrier's delivery status) or "
            "receipt_reference (the signed receipt's scan or reference)",
            errors=[FieldProblem(field="carrier_status", reason="or receipt_reference needed")],
        )
    async with pool.acquire() as conn, conn.transaction():
        row = await access.notification(conn, principal, notification_id)
        now = datetime.now(UTC)
        at = business_time.business_instant(
            principal,
            body.delivered_at,
            now,
            field="delivered_at",
            backdate_days=row["backdate_days"],
        )
        result = await letters.record_delivery(
            conn, notification_id, at=at, carrier_status=body.carrier_status,
            receipt_reference=body.receipt_reference, signed_by=body.signed_by,
        )  # fmt: skip
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
        raise NotALetter("not a letter or door notice")
    return result
