"""Pay links over HTTP: the owner opens one (``/p/{token}``, open, no sign-in) and pays from
it; staff list a unit's links and revoke one (audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.pay_links import PayLink, link_state
from payments.entrypoints.http_qr import LINK_ORDER_RESPONSES, QrPayIn, client_address
from payments.entrypoints.models import Household, OrderCreated, PayLinkStatement, PayLinkView
from payments.entrypoints.security import PayLinkRevoker, Reader
from payments.service_layer import pay_links
from propfee.auth import open_route
from propfee.http import Pool
from propfee.paging import Page, PageQuery
from propfee.problems import problem_responses

router = APIRouter(tags=["pay links"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]
#: Any text may come in, of any length: the signature check refuses all but the nine
#: well-formed characters, with the same 404 as an unknown token (no length limit answering
#: 422 instead).
Token = Annotated[str, Path(description="The few characters after /p/")]


def _view(link: PayLink, now: datetime) -> PayLinkView:
    return PayLinkView(
        token=link.token,
        unit_id=link.unit_id,
        occasion=link.occasion,
        issued_at=link.issued_at,
        expires_at=link.expires_at,
        state=link_state(link, now),
        revoked_at=link.revoked_at,
        revoked_by=link.revoked_by,
        revoke_reason=link.revoke_reason,
    )


_OPEN_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(
    404,
    410,
    429,
    **{
        "404": "Forged, malformed or never issued (one answer for all).",
        "410": "Expired or revoked: `state` says which, with `expires_at` or `revoked_at`.",
        "429": "Too many requests from this address (Retry-After).",
    },
)


@router.get(
    "/p/{token}",
    response_model=PayLinkStatement,
    openapi_extra=open_route("signature"),
    responses=_OPEN_RESPONSES,
)
async def open_pay_link(
    token: Token, request: Request, pool: Pool, gateways: GatewaysDep
) -> PayLinkStatement:
    """What the household owes today, as the message's pay link opens it: each open
    invoice's unpaid principal plus the late fee accrued to yesterday, on the community's
    local day (the amounts an order asks), and the total. Open: the signed token is the
    credential. A forged or unknown token answers 404 (the same body), an expired or revoked
    link 410 saying which. Signed tokens are limited per client address
    (``PAYMENTS_PAY_LINK_READS_PER_CLIENT_*``; 429 with Retry-After)."""
    settings = gateways.settings
    limit = pay_links.ReadLimit(
        settings.pay_link_reads_per_client_burst, settings.pay_link_reads_per_client_per_hour
    )
    opened = await pay_links.open_link(
        pool,
        settings.pay_link_key(),
        token,
        client=client_address(request),
        limit=limit,
        now=datetime.now(UTC),
    )
    return PayLinkStatement(
        household=Household(room_label=opened.room_label, community_name=opened.community_name),
        owed=opened.owed,
        total_fen=opened.owed.total_fen,
        expires_at=opened.link.expires_at,
    )


@router.post(
    "/p/{token}/orders",
    status_code=201,
    openapi_extra=open_route("signature"),
    response_model=OrderCreated,
    responses={**LINK_ORDER_RESPONSES, **_OPEN_RESPONSES},
)
async def pay_from_pay_link(
    token: Token, body: QrPayIn, request: Request, pool: Pool, gateways: GatewaysDep
) -> OrderCreated:
    """Pay what the link shows, as from the QR code (``POST /qr/{token}/orders``): the named
    invoices, or every open invoice (of ``collection`` if given), for what they owe today.
    404 / 410 as ``GET /p/{token}``; 409 when nothing is owed; orders limited per link and
    per client address (the QR limits, ``PAYMENTS_QR_ORDERS_PER_*``); gateway failures
    502/503 problem bodies."""
    view = await pay_links.pay_from_link(
        pool, gateways, token, body.ask(), client_address(request), datetime.now(UTC)
    )
    return OrderCreated.model_validate(view)


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why (kept in the audit trail)")


@router.post("/pay-links/{token}/revoke", response_model=PayLinkView)
async def revoke_pay_link(
    token: Token, body: RevokeIn, pool: Pool, principal: PayLinkRevoker
) -> PayLinkView:
    """Revoke a pay link of the caller's communities (404 for another's): it answers 410
    from now on. Idempotent: revoking a revoked link keeps the first revocation and audits
    nothing new; the first is audited (``pay_link.revoked``, with the reason)."""
    now = datetime.now(UTC)
    link = await pay_links.revoke_link(pool, principal, token, body.reason, now)
    return _view(link, now)


@router.get("/units/{unit_id}/pay-links", response_model=Page[PayLinkView])
async def list_unit_pay_links(
    unit_id: str,
    pool: Pool,
    principal: Reader,
    page: PageQuery,
    request: Request,
    response: Response,
) -> Page[PayLinkView]:
    """Staff: the unit's pay links, newest first, each with its state at the server's clock
    (``active``, ``expired``, ``revoked``). A unit of the caller's scope only (404). Paged
    (``limit``, ``cursor``; ``next`` and a ``Link`` header)."""
    now = datetime.now(UTC)
    after = page.after_as(datetime.fromisoformat, str)
    links = await pay_links.list_unit_links(pool, principal, unit_id, after, page.fetch)
    return page.build(
        [_view(link, now) for link in links],
        key=lambda v: [v.issued_at.isoformat(), v.token],
        request=request,
        response=response,
    )
