"""Who may call what in notifier, the scoping lookups (404 for what the caller may not see) and
the masking of message texts and contacts (services/notifier/README.md has the table).

- messages (``GET /notifications``): staff and the service role; the bodies are evidence with
  personal data, masked (like the contacts) for roles outside ``CONTACT_ROLES``;
- documents (a letter's PDF): the roles that see contacts only (a PDF cannot be masked);
- dispatch: the service role (the dispatcher's clock, any instant, the whole deployment) and
  company admins (as of now, their communities' messages only);
- letters (print batches, tracking numbers) and manual receipts: fee clerks, housekeepers,
  customer service, community managers, company admins; print batches and tracking numbers
  also the service role (the simulation's post office, on the simulated clock), which never
  reads a batch's PDF;
- templates: belong to a company; saved and approved by company-level staff
  (``Principal.company_level``: a company admin of every community of the company) or the service
  role, a different person approving each version; read by staff of the company;
- preferences and contact rules: set by customer service, community managers, company admins;
- provider delivery callbacks are not staff endpoints: open, authenticated by their signature
  (WeChat) or the callback token (Alibaba, Tencent; ``NOTIFIER_RECEIPT_CALLBACK_TOKEN``).

Notifier knows a community's company from ``billing.community-updated`` (``communities``).
A message or party of a community notifier has not heard of yet has no known company: a token
naming its communities (or a deployment-wide service token) may see it, a token whose
communities claim is ``"*"`` may not (it reaches every community *of its company*, and the
company is unknown) - the same rule in :func:`visible` and in
``notifier.service_layer.queries.scope_sql``.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import asyncpg
from fastapi import Depends, HTTPException

from propfee.auth import (
    CONTACT_ROLES,
    STAFF_READ,
    Principal,
    Role,
    mask_personal,
    not_found,
    require,
    visible_row,
)
from propfee.masking import mask_data

READ = STAFF_READ | {Role.service}
DOCUMENTS = CONTACT_ROLES
DISPATCH = frozenset({Role.service, Role.company_admin})
LETTERS = frozenset(
    {
        Role.fee_clerk,
        Role.housekeeper,
        Role.customer_service,
        Role.community_manager,
        Role.company_admin,
    }
)
#: Print batches and tracking numbers: also the service role (the demo's post office, on the
#: simulated clock); it never reads the PDFs (they cannot be masked).
LETTER_RECORDS = LETTERS | {Role.service}
TEMPLATE_WRITE = frozenset({Role.company_admin, Role.service})
CONTACT_WRITE = frozenset({Role.customer_service, Role.community_manager, Role.company_admin})

Reader = Annotated[Principal, Depends(require(*READ))]
DocumentReader = Annotated[Principal, Depends(require(*DOCUMENTS))]
Dispatcher = Annotated[Principal, Depends(require(*DISPATCH))]
LetterClerk = Annotated[Principal, Depends(require(*LETTERS))]
LetterRecorder = Annotated[Principal, Depends(require(*LETTER_RECORDS))]
TemplateWriter = Annotated[Principal, Depends(require(*TEMPLATE_WRITE))]
ContactWriter = Annotated[Principal, Depends(require(*CONTACT_WRITE))]

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


def require_company_level(principal: Principal, what: str) -> None:
    """403 unless ``principal.company_level``."""
    if not principal.company_level:  # company_admin over every community, or service
        raise HTTPException(
            403, f"{what} needs a company-level role (company_admin of every community)"
        )


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


#: Message texts: evidence of what was sent, with the household's room, amounts, names.
MESSAGE_TEXT = ("body", "subject_line")


def _hide(text: str) -> str:
    return text[:1] + "*" * min(len(text) - 1, 8) if len(text) > 1 else "*"


def mask_message(principal: Principal, row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A message as the caller may read it: as stored for ``CONTACT_ROLES``; otherwise the
    texts hidden (first character kept) and the proof's contact data masked."""
    out = mask_personal(principal, dict(row))
    if principal.sees_contacts:
        return out
    for key in MESSAGE_TEXT:
        if isinstance(out.get(key), str) and out[key]:
            out[key] = _hide(out[key])
    if out.get("proof") is not None:
        out["proof"] = mask_data(out["proof"])
    return out
