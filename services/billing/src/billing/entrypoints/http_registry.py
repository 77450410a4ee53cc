"""Billing's registry API: communities, units, parties, handovers, sales, ledger imports.

Every change is audited (``propfee.audit``) in its transaction; contact data is served
unmasked only to roles that need it (``CONTACT_ROLES``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import APIRouter, Body, HTTPException, Path, Query, Response

from billing.entrypoints import models, security
from billing.entrypoints.errors import domain_errors
from billing.entrypoints.security import (
    BillingWriter,
    CommunityVacancyRuleWriter,
    CompanyWriter,
    PartyWriter,
    Reader,
    RegistryWriter,
)
from billing.service_layer import registry
from billing.service_layer.ids import stable_id
from billing.service_layer.ledger_import import ImportReport, import_ledger
from propfee import audit, uploads
from propfee.auth import Principal, ensure_visible, mask_personal, new_ids, not_found, refused_ids
from propfee.business_time import (
    BusinessTimeRefused,
    acts_on_own_clock,
    business_date,
    utc_now,
)
from propfee.http import Pool
from propfee.masking import mask_value

router = APIRouter(tags=["registry"])
PARTY_CONTACT_FIELDS = ("name", "phone", "email", "wechat_openid", "app_user_id", "postal_address")


def _party(body: models.PartyBody, community_id: str, kind: str) -> registry.PartyIn:
    data = body.model_dump()
    data["allowed_channels"] = tuple(data["allowed_channels"])
    data["preferred_channels"] = tuple(data["preferred_channels"])
    return registry.PartyIn(community_id=community_id, kind=kind, **data)


def _masked_contacts(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """Contact data as the audit trail keeps it: masked (the registry holds the real values)."""
    if data is None:
        return None
    return {
        k: (mask_value(v) if k in PARTY_CONTACT_FIELDS and isinstance(v, str) and v else v)
        for k, v in data.items()
    }


@router.put("/communities/{community_id}", openapi_extra=new_ids("community_id"))
async def put_community(
    community_id: models.Id, body: models.CommunityIn, pool: Pool, principal: RegistryWriter
) -> dict[str, Any]:
    """Create or change a community and its contract terms; publishes CommunityUpdated.
    A community stays in its company; a token creates communities of its own company only.
    Renaming the company (a ``company_name`` other than the stored one) needs a company-level
    role (a company admin for every community, or the service role): 403 otherwise."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                "SELECT * FROM communities WHERE community_id = $1 FOR UPDATE", community_id
            )
            if before is not None:
                ensure_visible(
                    principal, community_id, before["company_id"], f"community {community_id}"
                )
            if not principal.all_companies and body.company_id != principal.company_id:
                raise HTTPException(403, "company_id: not your company")
            if before is not None and before["company_id"] != body.company_id:
                raise HTTPException(409, "company_id: a community cannot change company")
            if before is None and not principal.sees(community_id, body.company_id):
                raise HTTPException(403, f"community {community_id}: not in your token's scope")
            stored_name = await conn.fetchval(
                "SELECT name FROM companies WHERE company_id = $1 FOR UPDATE", body.company_id
            )
            company_name = body.company_name or stored_name
            if company_name is None:
                raise HTTPException(422, "company_name: required for a new company")
            renamed = stored_name is not None and company_name != stored_name
            if renamed and not principal.company_level:
                raise HTTPException(
                    403,
                    f"company_name: renaming company {body.company_id} needs a company admin "
                    "for every community (or the service role); omit company_name or send "
                    "the current one",
                )
            terms = body.model_dump(exclude={"company_name"})
            await registry.upsert_community(
                conn,
                community_id,
                body.model_copy(update={"company_name": company_name}),
                datetime.now(UTC),
            )
            if renamed:
                await audit.record(
                    conn,
                    principal,
                    "company.updated",
                    "company",
                    body.company_id,
                    community_id=None,
                    company_id=body.company_id,
                    before={"name": stored_name},
                    after={"name": company_name},
                )
            await audit.record(
                conn,
                principal,
                "community.updated" if before else "community.created",
                "community",
                community_id,
                community_id=community_id,
                company_id=body.company_id,
                before=dict(before) if before else None,
                after={**terms, "company_name": company_name},
            )
    return await get_community(community_id, pool, principal)


@router.get("/communities/{community_id}")
async def get_community(community_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT c.*, co.name AS company_name, co.backdate_days, "
        "(SELECT count(*) FROM units u WHERE u.community_id = c.community_id) AS units "
        "FROM communities c JOIN companies co USING (company_id) WHERE community_id = $1",
        community_id,
    )
    if row is None:
        raise not_found(f"community {community_id}")
    ensure_visible(principal, community_id, row["company_id"], f"community {community_id}")
    return dict(row)


@router.get("/companies/{company_id}")
async def get_company(company_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    """The caller's company: its name, its back-dating window and its vacancy rules."""
    async with pool.acquire() as conn:
        row = await security.company(conn, principal, company_id)
        rules = await conn.fetch(
            "SELECT city, after_months, payable_share, updated_at FROM company_vacancy_rules "
            "WHERE company_id = $1 ORDER BY city",
            company_id,
        )
    return {**dict(row), "vacancy_rules": [dict(r) for r in rules]}


@router.put("/companies/{company_id}")
async def put_company(
    company_id: str, body: models.CompanyIn, pool: Pool, principal: CompanyWriter
) -> dict[str, Any]:
    """Change company data (company-level roles only): its name, and ``backdate_days``, the
    days its staff may back-date a record (0-31, default 7). Published on every community of
    the company (CommunityUpdated); audited. Another company's id answers 404."""
    async with pool.acquire() as conn, conn.transaction():
        before = await security.company_level(conn, principal, company_id)
        now = datetime.now(UTC)
        changed = False
        if body.name is not None:
            changed = await registry.upsert_company(conn, company_id, body.name)
        if body.backdate_days is not None:
            old = await registry.set_backdate_days(conn, company_id, body.backdate_days)
            changed = changed or old != body.backdate_days
        if changed:
            await registry.publish_communities(conn, now, company_id=company_id)
            await audit.record(
                conn,
                principal,
                "company.updated",
                "company",
                company_id,
                community_id=None,
                company_id=company_id,
                before={"name": before["name"], "backdate_days": before["backdate_days"]},
                after=body.model_dump(exclude_none=True),
            )
    return await get_company(company_id, pool, principal)


@router.put("/companies/{company_id}/vacancy-rules/{city}")
async def put_vacancy_rule(
    company_id: str,
    city: Annotated[str, Path(min_length=1, max_length=200)],
    body: models.VacancyRuleIn,
    pool: Pool,
    principal: CompanyWriter,
) -> dict[str, Any]:
    """The company's rule for registered vacant homes in a city, e.g. pay 70% after 6 months:
    applies to the company's communities in that city that have no rule of their own
    (company-level roles only; audited)."""
    async with pool.acquire() as conn, conn.transaction():
        await security.company_level(conn, principal, company_id)
        before = await conn.fetchrow(
            "SELECT after_months, payable_share FROM company_vacancy_rules "
            "WHERE company_id = $1 AND city = $2 FOR UPDATE",
            company_id,
            city,
        )
        await conn.execute(
            "INSERT INTO company_vacancy_rules (company_id, city, after_months, payable_share) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (company_id, city) DO UPDATE "
            "SET after_months = $3, payable_share = $4, updated_at = now()",
            company_id,
            city,
            body.after_months,
            body.payable_share,
        )
        await audit.record(
            conn,
            principal,
            "vacancy_rule.set",
            "vacancy_rule",
            f"{company_id}/{city}",
            community_id=None,
            company_id=company_id,
            before=dict(before) if before else None,
            after={"city": city, **body.model_dump()},
        )
    return {"company_id": company_id, "city": city, **body.model_dump()}


@router.put("/communities/{community_id}/vacancy-rule")
async def put_community_vacancy_rule(
    community_id: str,
    body: models.VacancyRuleIn,
    pool: Pool,
    principal: CommunityVacancyRuleWriter,
) -> dict[str, Any]:
    """The community's own vacancy rule, in place of its company's rule for the city
    (audited)."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        before = await conn.fetchrow(
            "SELECT after_months, payable_share FROM community_vacancy_rules "
            "WHERE community_id = $1 FOR UPDATE",
            community_id,
        )
        await conn.execute(
            "INSERT INTO community_vacancy_rules (community_id, after_months, payable_share) "
            "VALUES ($1, $2, $3) ON CONFLICT (community_id) DO UPDATE "
            "SET after_months = $2, payable_share = $3, updated_at = now()",
            community_id,
            body.after_months,
            body.payable_share,
        )
        await audit.record(
            conn,
            principal,
            "vacancy_rule.set",
            "vacancy_rule",
            community_id,
            community_id=community_id,
            company_id=company_id,
            before=dict(before) if before else None,
            after=body.model_dump(),
        )
    return {"community_id": community_id, **body.model_dump()}


@router.delete("/communities/{community_id}/vacancy-rule")
async def delete_community_vacancy_rule(
    community_id: str, pool: Pool, principal: CommunityVacancyRuleWriter
) -> dict[str, Any]:
    """Drop the community's own rule: its company's rule for the city applies again."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        before = await conn.fetchrow(
            "DELETE FROM community_vacancy_rules WHERE community_id = $1 "
            "RETURNING after_months, payable_share",
            community_id,
        )
        if before is not None:
            await audit.record(
                conn,
                principal,
                "vacancy_rule.removed",
                "vacancy_rule",
                community_id,
                community_id=community_id,
                company_id=company_id,
                before=dict(before),
            )
    return {"community_id": community_id, "removed": before is not None}


@router.post("/units", status_code=201, openapi_extra=refused_ids("unit_id"))
async def create_unit(
    body: models.UnitIn, pool: Pool, response: Response, principal: RegistryWriter
) -> dict[str, Any]:
    """Register a unit (201), or find the same room of the community again (200). Its id is
    random; ``reference``, the client's own identifier, is unique within the community."""
    unit = registry.UnitIn(
        community_id=body.community_id,
        building=body.building,
        room=body.room,
        unit_type=body.unit_type,
        floor_area_m2=body.floor_area_m2,
        status=body.status,
        entrance=body.entrance,
        handover_date=body.handover_date,
        owner=_party(body.owner, body.community_id, "owner") if body.owner else None,
        tenant=_party(body.tenant, body.community_id, "tenant") if body.tenant else None,
        payer=body.payer,
        reference=body.reference,
    )
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            company_id = await security.community(conn, principal, body.community_id)
            # The unit's id is the server's (random); the client's own identifier is a
            # reference within the community, so nothing here depends on other companies.
            unit_id, created = await registry.register_unit(conn, unit, datetime.now(UTC))
            await conn.executemany(
                "INSERT INTO parking_spaces (community_id, space_id, unit_id) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                [(body.community_id, s, unit_id) for s in body.parking_spaces],
            )
            if created:
                after = body.model_dump(exclude={"owner", "tenant"})
                for role in ("owner", "tenant"):
                    after[role] = _masked_contacts(body.model_dump()[role])
                await audit.record(
                    conn,
                    principal,
                    "unit.created",
                    "unit",
                    unit_id,
                    community_id=body.community_id,
                    unit_id=unit_id,
                    company_id=company_id,
                    after=after,
                )
    if not created:
        response.status_code = 200
    return await get_unit(unit_id, pool, principal)


@router.get("/units/{unit_id}")
async def get_unit(unit_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    """A unit with who is tied to it and its credit on account (names and phone numbers
    masked for roles that do not need them)."""
    await security.unit(pool, principal, unit_id)
    row = await pool.fetchrow(
        "SELECT unit_id, community_id, building_id, entrance, room, unit_key, reference, "
        "unit_type, floor_area_m2, status, handover_date, "
        "(SELECT coalesce(sum(credit_fen), 0) FROM account_credits a WHERE a.unit_id = u.unit_id) "
        "AS credit_fen FROM units u WHERE unit_id = $1",
        unit_id,
    )
    if row is None:
        raise not_found(f"unit {unit_id}")
    parties = await pool.fetch(
        "SELECT up.party_id, up.role, up.pays, up.valid_from, up.valid_to, p.name, p.phone "
        "FROM unit_parties up JOIN parties p USING (party_id) WHERE up.unit_id = $1 "
        "ORDER BY up.valid_from, up.role",
        unit_id,
    )
    return {**dict(row), "parties": [mask_personal(principal, dict(r)) for r in parties]}


async def _business_date(
    conn: asyncpg.Connection, principal: Principal, scope: asyncpg.Record, day: date, field: str
) -> date:
    """The day a registry fact happened, as staff may record it: not later than today, not
    earlier than the company's back-dating window (403); the service role, any day."""
    return business_date(
        principal,
        day,
        utc_now(),
        field=field,
        time_zone=await security.time_zone(conn, scope["community_id"]),
        backdate_days=await security.backdate_days(conn, scope["company_id"]),
    )


async def _unit_change(
    conn: asyncpg.Connection, principal: Principal, unit_id: str, action: str, **after: Any
) -> None:
    scope = await security.unit(conn, principal, unit_id)
    await audit.record(
        conn,
        principal,
        action,
        "unit",
        unit_id,
        community_id=scope["community_id"],
        unit_id=unit_id,
        company_id=scope["company_id"],
        after=after,
    )


@router.post("/units/{unit_id}/handover")
async def handover(
    unit_id: str, body: models.HandoverIn, pool: Pool, principal: RegistryWriter
) -> dict[str, Any]:
    """An unsold unit handed to its buyer: the developer pays through the handover month.
    ``handover_date``: staff back-date it within the company's window only (403)."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, unit_id)
            handover_date = await _business_date(
                conn, principal, scope, body.handover_date, "handover_date"
            )
            owner_id = await registry.record_handover(
                conn,
                unit_id,
                handover_date,
                _party(body.owner, scope["community_id"], "owner"),
                datetime.now(UTC),
            )
            await _unit_change(
                conn,
                principal,
                unit_id,
                "unit.handover",
                handover_date=handover_date,
                owner_party_id=owner_id,
            )
    return {"unit_id": unit_id, "owner_party_id": owner_id}


@router.post("/units/{unit_id}/sale")
async def sale(
    unit_id: str, body: models.SaleIn, pool: Pool, principal: RegistryWriter
) -> models.SaleOut:
    """A change of owner. Answers the seller's arrears, each invoice with its principal and
    late fee as of the sale date, and the seller's credit, refunded or transferred to the
    buyer as ``seller_credit`` says (required). The seller pays through the month of the
    sale, the buyer from the next; the buyer's account starts clean. ``sold_on``: staff
    back-date it within the company's window only (403). Audited."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, unit_id)
            sold_on = await _business_date(conn, principal, scope, body.sold_on, "sold_on")
            settled = await registry.record_sale(
                conn,
                unit_id,
                sold_on,
                _party(body.buyer, scope["community_id"], "owner"),
                body.seller_credit,
                datetime.now(UTC),
                recorded_by=principal.subject,
            )
            if settled.created:
                await _unit_change(
                    conn,
                    principal,
                    unit_id,
                    "unit.sale",
                    sale_id=settled.sale_id,
                    sold_on=sold_on,
                    buyer_party_id=settled.buyer_party_id,
                    seller_party_ids=list(settled.seller_party_ids),
                    seller_credit=settled.seller_credit,
                    seller_credit_fen=settled.seller_credit_fen,
                    arrears_to_settle_fen=settled.arrears_to_settle_fen,
                )
    return models.SaleOut(
        unit_id=unit_id,
        sale_id=settled.sale_id,
        sold_on=settled.sold_on,
        sold_at=settled.sold_at,
        buyer_party_id=settled.buyer_party_id,
        seller_party_ids=list(settled.seller_party_ids),
        arrears_to_settle_fen=settled.arrears_to_settle_fen,
        arrears=[models.SaleArrearOut(**asdict(a), owed_fen=a.owed_fen) for a in settled.arrears],
        seller_credit=settled.seller_credit,
        seller_credit_fen=settled.seller_credit_fen,
    )


@router.post("/units/{unit_id}/vacancies", status_code=201)
async def vacancy(
    unit_id: str, body: models.VacancyIn, pool: Pool, principal: RegistryWriter
) -> dict[str, Any]:
    """A registered vacancy (空置登记); ``registered_on``: staff back-date it within the
    company's window only (403)."""
    with domain_errors():
        async with pool.acquire() as conn, conn.transaction():
            scope = await security.unit(conn, principal, unit_id)
            # A registration back-dated further than the window would buy a vacancy discount.
            await _business_date(conn, principal, scope, body.registered_on, "registered_on")
            await registry.register_vacancy(conn, unit_id, body.registered_on, body.ended_on)
            await _unit_change(conn, principal, unit_id, "unit.vacancy", **body.model_dump())
    return {"unit_id": unit_id, **body.model_dump()}


@router.post("/parties", status_code=201)
async def create_party(body: models.PartyIn, pool: Pool, principal: PartyWriter) -> dict[str, Any]:
    party = _party(
        models.PartyBody(**body.model_dump(exclude={"community_id", "kind"})),
        body.community_id,
        body.kind,
    )
    party_id = stable_id("pty", body.community_id, body.kind, body.name, body.phone)
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, body.community_id)
        # A person already registered with the same verified phone is that party (issue 18
        # rule 12): it is answered as it is (PATCH changes its contacts).
        party_id, changed = await registry.person_party(conn, party, party_id, datetime.now(UTC))
        if changed:
            await audit.record(
                conn,
                principal,
                "party.upserted",
                "party",
                party_id,
                community_id=body.community_id,
                company_id=company_id,
                after=_masked_contacts(body.model_dump()),
            )
    return await get_party(party_id, pool, principal)


@router.patch("/parties/{party_id}")
async def update_party(
    party_id: str, body: models.PartyBody, pool: Pool, principal: PartyWriter
) -> dict[str, Any]:
    """Contact data and channel preferences; publishes PartyContactsUpdated when they change.
    A partial update: the fields the body names change (``null`` clears one), the others
    keep their values, so recording a mailing address does not erase the phone number."""
    async with pool.acquire() as conn, conn.transaction():
        scope = await security.party(conn, principal, party_id)
        before = await conn.fetchrow(
            "SELECT * FROM parties WHERE party_id = $1 FOR UPDATE", party_id
        )
        current = {k: before[k] for k in models.PartyBody.model_fields} if before else {}
        # The body was validated; the stored values are the registry's own (an import may
        # have accepted what this body's limits would not), so they are not validated again.
        merged = models.PartyBody.model_construct(
            **{**current, **body.model_dump(exclude_unset=True)}
        )
        changed = await registry.upsert_party(
            conn,
            _party(merged, scope["community_id"], scope["kind"]),
            party_id,
            datetime.now(UTC),
        )
        if changed:
            await audit.record(
                conn,
                principal,
                "party.updated",
                "party",
                party_id,
                community_id=scope["community_id"],
                company_id=scope["company_id"],
                before=_masked_contacts(_without_key(before)),
                after=_masked_contacts(merged.model_dump()),
            )
    return await get_party(party_id, pool, principal)


@router.get("/parties/{party_id}")
async def get_party(party_id: str, pool: Pool, principal: Reader) -> dict[str, Any]:
    """A party; contact data masked for roles that do not need it."""
    await security.party(pool, principal, party_id)
    row = await pool.fetchrow("SELECT * FROM parties WHERE party_id = $1", party_id)
    if row is None:
        raise not_found(f"party {party_id}")
    return mask_personal(principal, _without_key(row) or {}, PARTY_CONTACT_FIELDS)


def _without_key(row: Any) -> dict[str, Any] | None:
    """A party row without its person key (the normalised phone: personal, never shown)."""
    if row is None:
        return None
    return {k: v for k, v in dict(row).items() if k != "person_key"}


def _opening_not_ahead(principal: Principal, opening_as_of: date, time_zone: str) -> None:
    today = utc_now().astimezone(ZoneInfo(time_zone)).date()
    limit = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    if opening_as_of > limit and not acts_on_own_clock(principal):
        raise BusinessTimeRefused(f"opening_as_of: may not be later than {limit}")


@router.post("/communities/{community_id}/ledger-imports")
async def ledger_import(
    community_id: str,
    pool: Pool,
    response: Response,
    principal: BillingWriter,
    data: Annotated[bytes, Body(media_type="application/octet-stream")],
    filename: Annotated[
        str, Query(min_length=1, max_length=255, description="original file name: .csv or .xlsx")
    ],
    opening_as_of: Annotated[date, Query(description="first day of the month the arrears run to")],
    limits: uploads.Limits,
    accept_good_rows: bool = False,
) -> dict[str, Any]:
    """Import a ledger (台账). A file with errors imports nothing (422 with every bad row)
    unless ``accept_good_rows``; importing the same file again changes nothing. A file past
    the upload limits (``BILLING_MAX_UPLOAD_*``, ``BILLING_MAX_XLSX_*``) is refused: 413 for
    its size, rows or inflation, 422 naming the row and column of a cell too long.
    ``opening_as_of`` may lie in the past (the ledger is the old system's history), but staff
    may not date the arrears invoices later than next month's first day (403)."""
    company_id = await security.community(pool, principal, community_id)
    _opening_not_ahead(principal, opening_as_of, await security.time_zone(pool, community_id))

    async def audited(conn: asyncpg.Connection, report: ImportReport) -> None:
        summary = asdict(report)
        summary.pop("errors")
        summary["rows_rejected"] = len({e.row for e in report.errors})
        await audit.record(
            conn,
            principal,
            "ledger.imported",
            "ledger_import",
            filename,
            community_id=community_id,
            company_id=company_id,
            after=summary,
        )

    with domain_errors():
        report = await import_ledger(
            pool,
            community_id,
            data,
            filename,
            opening_as_of=opening_as_of,
            accept_good_rows=accept_good_rows,
            on_imported=audited,
            limits=limits,
        )
    result = asdict(report)
    if not report.imported:
        response.status_code = 422
    return result
