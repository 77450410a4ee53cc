"""The audit trail: who changed what, when, before and after, and why — append-only.

Every manual change that moves money or changes the registry, the fees or a case calls
:func:`record` on the connection of the change, inside its transaction: the audit row commits
with the change or not at all. Each service creates the table by its own numbered migration
with :data:`AUDIT_LOG_DDL` (copied verbatim); a trigger refuses UPDATE, DELETE and TRUNCATE.
The migrations run as an owner role and the service as a runtime role that owns nothing and
may only SELECT and INSERT here (:func:`propfee.db.grant_runtime`), so the service cannot
disable the trigger or drop the table.

:func:`audit_router` serves ``GET /audit?unit_id=&actor=&community_id=`` filtered, in SQL, by
the caller's company and communities; contact data in before/after is masked for roles that
do not see it.
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from propfee.auth import AUDIT_READ, Principal, require
from propfee.masking import mask_data
from propfee.paging import Page, PageQuery

#: The table, its indexes and its append-only trigger; a service's migration copies this.
AUDIT_LOG_DDL = """
CREATE TABLE audit_log (
    audit_id      bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor         text        NOT NULL,
    actor_roles   text[]      NOT NULL,
    company_id    text        NOT NULL,
    community_id  text,
    unit_id       text,
    action        text        NOT NULL,
    subject_type  text        NOT NULL,
    subject_id    text        NOT NULL,
    before        jsonb,
    after         jsonb,
    reason        text
);
CREATE INDEX audit_log_by_unit ON audit_log (unit_id, audit_id) WHERE unit_id IS NOT NULL;
CREATE INDEX audit_log_by_actor ON audit_log (actor, audit_id);
CREATE INDEX audit_log_by_community ON audit_log (company_id, community_id, audit_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, asyncpg.Record):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def jsonable(value: Any) -> Any:
    """Plain JSON values (Decimal as text, dates ISO, dataclasses as objects)."""
    if value is None:
        return None
    return orjson.loads(orjson.dumps(value, default=_default))


async def record(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    subject_type: str,
    subject_id: str,
    *,
    community_id: str | None,
    unit_id: str | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    company_id: str | None = None,
) -> int:
    """Append one audit row in the caller's transaction; returns its id. ``company_id``
    defaults to the principal's (pass the community's when the token is company-wide)."""
    audit_id: int = await conn.fetchval(
        "INSERT INTO audit_log (actor, actor_roles, company_id, community_id, unit_id, action, "
        "subject_type, subject_id, before, after, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING audit_id",
        principal.subject,
        sorted(principal.roles),
        company_id or principal.company_id,
        community_id,
        unit_id,
        action,
        subject_type,
        subject_id,
        jsonable(before),
        jsonable(after),
        reason,
    )
    return audit_id


class AuditEntry(BaseModel):
    """One change, as recorded: who, when, what, before and after (personal data masked for
    roles that do not see contacts)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "audit_id": 42,
                    "at": "2026-11-03T09:12:00+08:00",
                    "actor": "clerk-7",
                    "actor_roles": ["fee_clerk"],
                    "company_id": "co-1",
                    "community_id": "c-1",
                    "unit_id": "u-1",
                    "action": "invoice.voided",
                    "subject_type": "invoice",
                    "subject_id": "inv-1",
                    "before": {"status": "open"},
                    "after": {"status": "void"},
                    "reason": "billed twice",
                }
            ]
        }
    )

    audit_id: int
    at: datetime
    actor: str
    actor_roles: list[str]
    company_id: str
    community_id: str | None
    unit_id: str | None
    action: str
    subject_type: str
    subject_id: str
    before: Any = Field(description="The record before the change (JSON), if any.")
    after: Any = Field(description="The record after the change (JSON), if any.")
    reason: str | None


async def list_entries(
    conn: asyncpg.Connection,
    principal: Principal,
    *,
    unit_id: str | None = None,
    actor: str | None = None,
    community_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first, only rows of the caller's company and communities (rows without a
    community, such as a city's rule, only for company-wide callers); ``before_id``: the rows
    older than that one (keyset paging)."""
    company, communities = principal.sql_scope()
    rows = await conn.fetch(
        "SELECT audit_id, at, actor, actor_roles, company_id, community_id, unit_id, action, "
        "subject_type, subject_id, before, after, reason FROM audit_log "
        "WHERE ($1::text IS NULL OR company_id = $1) "
        "AND ($2::text[] IS NULL OR community_id = ANY($2)) "
        "AND ($3::text IS NULL OR unit_id = $3) AND ($4::text IS NULL OR actor = $4) "
        "AND ($5::text IS NULL OR community_id = $5) AND ($6::bigint IS NULL OR audit_id < $6) "
        "ORDER BY audit_id DESC LIMIT $7",
        company,
        communities,
        unit_id,
        actor,
        community_id,
        before_id,
        limit,
    )
    entries = [dict(r) for r in rows]
    if not principal.sees_contacts:
        for e in entries:
            e["before"] = mask_data(e["before"]) if e["before"] is not None else None
            e["after"] = mask_data(e["after"]) if e["after"] is not None else None
    return entries


def audit_router(
    get_conn_pool: Callable[..., Any], *, tags: list[str | Enum] | None = None
) -> APIRouter:
    """``GET /audit`` for a service; ``get_conn_pool`` is its pool dependency
    (``propfee.http.get_pool``). Roles: ``AUDIT_READ``."""
    router = APIRouter(tags=list(tags or ["audit"]))

    @router.get("/audit", response_model=Page[AuditEntry])
    async def list_audit_entries(
        principal: Annotated[Principal, Depends(require(*AUDIT_READ))],
        pool: Annotated[asyncpg.Pool, Depends(get_conn_pool)],
        page: PageQuery,
        request: Request,
        response: Response,
        unit_id: Annotated[str | None, Query(max_length=64)] = None,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        community_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Page[AuditEntry]:
        """The audit trail, newest first, per unit, per person (``actor``, the token's
        subject) or per community, a page at a time. Ids out of the caller's scope: 404."""
        after = page.after_as(int)
        async with pool.acquire() as conn:
            rows = await list_entries(
                conn,
                principal,
                unit_id=unit_id,
                actor=actor,
                community_id=community_id,
                before_id=after[0] if after else None,
                limit=page.fetch,
            )
        entries = [AuditEntry(**row) for row in rows]
        return page.build(entries, key=lambda e: [e.audit_id], request=request, response=response)

    return router


__all__ = ["AUDIT_LOG_DDL", "AuditEntry", "audit_router", "jsonable", "list_entries", "record"]
