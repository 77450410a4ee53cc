"""Use cases of companies and communities: their terms, their vacancy rules, who may change
them. Each change is audited (``propfee.audit``) in its transaction; refusals are
``billing.errors`` (404 for what the caller may not see, 403 for a role that may not, 409 for
a state that forbids it)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing.errors import Conflict, Forbidden, InvalidInput
from billing.service_layer import registry, visibility
from billing.service_layer.registry import CommunityIn
from propfee import audit
from propfee.auth import Principal, ensure_visible, not_found


async def save_community(
    pool: asyncpg.Pool, principal: Principal, community_id: str, body: CommunityIn
) -> None:
    """Create or change a community and its terms (publishes CommunityUpdated). A community
    stays in its company; a token creates communities of its own company only; renaming the
    company needs a company-level role."""
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow(
            "SELECT * FROM communities WHERE community_id = $1 FOR UPDATE", community_id
        )
        if before is not None:
            ensure_visible(
                principal, community_id, before["company_id"], f"community {community_id}"
            )
        if not principal.all_companies and body.company_id != principal.company_id:
            raise Forbidden("company_id: not your company")
        if before is not None and before["company_id"] != body.company_id:
            raise Conflict("company_id: a community cannot change company")
        if before is None and not principal.sees(community_id, body.company_id):
            raise Forbidden(f"community {community_id}: not in your token's scope")
        stored_name = await conn.fetchval(
            "SELECT name FROM companies WHERE company_id = $1 FOR UPDATE", body.company_id
        )
        company_name = body.company_name or stored_name
        if company_name is None:
            raise InvalidInput("company_name: required for a new company")
        renamed = stored_name is not None and company_name != stored_name
        if renamed and not principal.company_level:
            raise Forbidden(
                f"company_name: renaming company {body.company_id} needs a company admin "
                "for every community (or the service role); omit company_name or send "
                "the current one"
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


async def community_terms(
    pool: asyncpg.Pool, principal: Principal, community_id: str
) -> dict[str, Any]:
    """A community, its terms, its company's name and back-dating window, and its units."""
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


async def company_with_rules(
    pool: asyncpg.Pool, principal: Principal, company_id: str
) -> dict[str, Any]:
    """The caller's company with its vacancy rules (404 for another company)."""
    async with pool.acquire() as conn:
        row = await visibility.company(conn, principal, company_id)
        rules = await conn.fetch(
            "SELECT city, after_months, payable_share, updated_at FROM company_vacancy_rules "
            "WHERE company_id = $1 ORDER BY city",
            company_id,
        )
    return {**dict(row), "vacancy_rules": [dict(r) for r in rules]}


async def change_company(
    pool: asyncpg.Pool,
    principal: Principal,
    company_id: str,
    *,
    name: str | None,
    backdate_days: int | None,
    credit_code: str | None,
) -> None:
    """Change company data (company-level roles only); published on every community of the
    company when its name or window changed; audited."""
    async with pool.acquire() as conn, conn.transaction():
        before = await visibility.company_level(conn, principal, company_id)
        now = datetime.now(UTC)
        published = False
        if name is not None:
            published = await registry.upsert_company(conn, company_id, name)
        if backdate_days is not None:
            old = await registry.set_backdate_days(conn, company_id, backdate_days)
            published = published or old != backdate_days
        code_changed = credit_code is not None and credit_code != before["credit_code"]
        if code_changed:
            await conn.execute(
                "UPDATE companies SET credit_code = $2, updated_at = now() WHERE company_id = $1",
                company_id,
                credit_code,
            )
        if published:
            await registry.publish_communities(conn, now, company_id=company_id)
        if published or code_changed:
            after = {"name": name, "backdate_days": backdate_days, "credit_code": credit_code}
            await audit.record(
                conn,
                principal,
                "company.updated",
                "company",
                company_id,
                community_id=None,
                company_id=company_id,
                before={
                    "name": before["name"],
                    "backdate_days": before["backdate_days"],
                    "credit_code": before["credit_code"],
                },
                after={k: v for k, v in after.items() if v is not None},
            )


async def set_company_vacancy_rule(
    pool: asyncpg.Pool,
    principal: Principal,
    company_id: str,
    city: str,
    after_months: int,
    payable_share: Decimal,
) -> None:
    """The company's rule for registered vacant homes in a city (company-level; audited)."""
    async with pool.acquire() as conn, conn.transaction():
        await visibility.company_level(conn, principal, company_id)
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
            after_months,
            payable_share,
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
            after={"city": city, "after_months": after_months, "payable_share": payable_share},
        )


async def set_community_vacancy_rule(
    pool: asyncpg.Pool,
    principal: Principal,
    community_id: str,
    after_months: int,
    payable_share: Decimal,
) -> None:
    """The community's own vacancy rule, in place of its company's for the city (audited)."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await visibility.community(conn, principal, community_id)
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
            after_months,
            payable_share,
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
            after={"after_months": after_months, "payable_share": payable_share},
        )


async def remove_community_vacancy_rule(
    pool: asyncpg.Pool, principal: Principal, community_id: str
) -> bool:
    """Drop the community's own rule (its company's applies again); True if there was one."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await visibility.community(conn, principal, community_id)
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
    return before is not None
