"""The scoped loaders: what the caller may see of notifier's rows (404 for the rest).

Notifier knows a community's company from ``billing.community-updated`` (``communities``).
A message or party of a community notifier has not heard of yet has no known company: a token
naming its communities (or a deployment-wide service token) may see it, a token whose
communities claim is ``"*"`` may not (it reaches every community *of its company*, and the
company is unknown) - the same rule in :func:`visible` and in
``notifier.service_layer.queries.scope_sql``.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

from propfee.auth import Principal, not_found, sql_resolver, visible_row
from propfee.problems import Forbidden

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

#: A company's template version, for the scope registry (built-in defaults have no company
#: and are never named by version).
TEMPLATE_VERSION_RESOLVER = sql_resolver(
    "SELECT template_version_id AS id, NULL::text AS community_id, company_id "
    "FROM templates WHERE template_version_id = ANY($1::text[]) AND company_id IS NOT NULL"
)


def require_company_level(principal: Principal, what: str) -> None:
    """403 unless ``principal.company_level``."""
    if not principal.company_level:  # company_admin over every community, or service
        raise Forbidden(f"{what} needs a company-level role (company_admin of every community)")


def visible(principal: Principal, community_id: str | None, company_id: str | None) -> bool:
    if company_id is None and principal.all_communities and not principal.all_companies:
        return False  # "every community of my company", and the company is unknown
    return principal.sees(community_id, company_id)


def ensure(
    principal: Principal, community_id: str | None, company_id: str | None, what: str
) -> None:
    """404 ("<what> not found") unless the principal may see the community."""
    if not visible(principal, community_id, company_id):
        raise not_found(what)


async def community(conn: Conn, principal: Principal, community_id: str) -> str | None:
    """The community's company (None when notifier has not heard of it yet); 404 when the
    caller may not see it."""
    company_id: str | None = await conn.fetchval(
        "SELECT company_id FROM communities WHERE community_id = $1", community_id
    )
    ensure(principal, community_id, company_id, f"community {community_id}")
    return company_id


async def notification(conn: Conn, principal: Principal, notification_id: str) -> asyncpg.Record:
    """``(community_id, unit_id, company_id, channel, document IS NOT NULL)`` of a message the
    caller may see; 404 otherwise."""
    return await visible_row(
        conn,
        principal,
        f"notification {notification_id}",
        "SELECT n.community_id, n.unit_id, n.channel, n.status, n.provider, "
        "n.provider_message_id, n.tracking_number, n.document IS NOT NULL AS has_document, "
        "c.company_id, c.backdate_days FROM notifications n "
        "LEFT JOIN communities c USING (community_id) WHERE n.notification_id = $1",
        notification_id,
        check=ensure,
    )


async def sent_message(
    conn: Conn, principal: Principal, provider: str, provider_message_id: str
) -> asyncpg.Record:
    """The message a provider's id belongs to, when the caller may see it; 404 otherwise."""
    return await visible_row(
        conn,
        principal,
        f"message {provider}/{provider_message_id}",
        "SELECT n.notification_id, n.community_id, n.unit_id, n.status, c.company_id, "
        "c.backdate_days "
        "FROM notifications n LEFT JOIN communities c USING (community_id) "
        "WHERE n.provider = $1 AND n.provider_message_id = $2",
        provider,
        provider_message_id,
        check=ensure,
    )


async def party(conn: Conn, principal: Principal, party_id: str) -> asyncpg.Record:
    """``(community_id, company_id)`` of a party notifier knows and the caller may see."""
    return await visible_row(
        conn,
        principal,
        f"party {party_id}",
        "SELECT p.community_id, c.company_id FROM parties p "
        "LEFT JOIN communities c USING (community_id) WHERE p.party_id = $1",
        party_id,
        check=ensure,
    )


async def batch(conn: Conn, principal: Principal, batch_id: str) -> asyncpg.Record:
    """A print batch whose every community the caller sees; 404 otherwise."""
    row = await conn.fetchrow(
        "SELECT b.company_id, b.community_ids, b.pdf, "
        "array(SELECT c.company_id FROM unnest(b.community_ids) AS x(community_id) "
        "LEFT JOIN communities c USING (community_id)) AS companies "
        "FROM letter_batches b WHERE b.batch_id = $1",
        batch_id,
    )
    what = f"batch {batch_id}"
    if row is None or not row["community_ids"]:
        raise not_found(what)
    for community_id, company_id in zip(row["community_ids"], row["companies"], strict=True):
        ensure(principal, community_id, company_id, what)
    return row


async def print_job(conn: Conn, principal: Principal, job_id: str) -> asyncpg.Record:
    """A print job of the caller's company whose every community the caller sees (those of
    its batch, as ``batch``); 404 otherwise."""
    row = await conn.fetchrow(
        "SELECT j.batch_id, j.company_id, j.finished_at, j.community_ids, "
        "array(SELECT c.company_id FROM unnest(j.community_ids) AS x(community_id) "
        "LEFT JOIN communities c USING (community_id)) AS companies "
        "FROM letter_print_jobs j WHERE j.job_id = $1",
        job_id,
    )
    what = f"print job {job_id}"
    if row is None or not (principal.all_companies or row["company_id"] == principal.company_id):
        raise not_found(what)
    for community_id, company_id in zip(row["community_ids"], row["companies"], strict=True):
        ensure(principal, community_id, company_id, what)
    return row
