"""Pay links over HTTP: the owner opens one (``/p/{token}``, open, no sign-in) and pays from
it; staff list a unit's links and revoke one (audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import AwareDatetime, BaseModel, Field

from payments.adapters.gateways import Gateways, gateways_dependency
from payments.domain.pay_links import PayLink, PayLinkGone, PayLinkState, UnknownPayLink, link_state
from payments.entrypoints import security
from payments.entrypoints.orders import check_payer_id
from payments.entrypoints.qr import QrPayIn, limit_orders, order_for_link, prepay_view
from payments.entrypoints.security import PayLinkRevoker, Reader
from payments.service_layer import pay_links
from payments.service_layer.statements import OwedToday
from propfee import audit
from propfee.auth import open_route
from propfee.http import Pool
from propfee.problems import Gone, problem_responses

router = APIRouter(tags=["pay links"])
GatewaysDep = Annotated[Gateways, Depends(gateways_dependency)]
#: Any text may come in, of any length: the signature check refuses all but the nine
#: well-formed characters, with the same 404 as an unknown token (no length limit answering
#: 422 instead).
Token = Annotated[str, Path(description="The few characters after /p/")]
UNKNOWN = "unknown pay link"


class Household(BaseModel):
    """The household as the owner knows it: never a name, a phone or an internal id."""

    room_label: str | None = Field(description="The room as billing labels it (9栋2单元502)")
    community_name: str | None


class PayLinkStatement(BaseModel):
    household: Household
    owed: OwedToday = Field(description="What paying takes today, invoice by invoice")
    total_fen: int = Field(description="What the household owes today (property and utilities)")
    expires_at: AwareDatetime = Field(description="The link opens until this instant")


class PayLinkView(BaseModel):
    token: str
    unit_id: str
    occasion: str
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    state: PayLinkState
    revoked_at: AwareDatetime | None
    revoked_by: str | None
    revoke_reason: str | None


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


def _gone(exc: PayLinkGone) -> Gone:
    """410 problem details saying which: ``state`` and ``revoked_at`` or ``expires_at``."""
    link = exc.link
    if exc.state == "revoked":
        assert link.revoked_at is not None
        return Gone(
            "this pay link was revoked", state="revoked", revoked_at=link.revoked_at.isoformat()
        )
    return Gone(
        f"this pay link expired at {link.expires_at.isoformat()}",
        state="expired",
        expires_at=link.expires_at.isoformat(),
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


_OPEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Forged, malformed or never issued (one answer for all)"},
    **problem_responses(410, **{"410": "Expired or revoked (`state`, `expires_at`/`revoked_at`)"}),
    429: {"description": "Too many requests from this address (Retry-After)"},
}


@router.get(
    "/p/{token}",
    response_model=PayLinkStatement,
    openapi_extra=open_route("signature"),
    responses=_OPEN_RESPONSES,
)
async def open_pay_link(token: Token, request: Request, pool: Pool, gateways: GatewaysDep) -> Any:
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
    try:
        opened = await pay_links.open_link(
            pool,
            settings.pay_link_key(),
            token,
            client=_client(request),
            limit=limit,
            now=datetime.now(UTC),
        )
    except UnknownPayLink as exc:
        raise HTTPException(404, UNKNOWN) from exc
    except PayLinkGone as exc:
        raise _gone(exc) from exc
    except pay_links.TooManyReads as exc:
        raise HTTPException(429, str(exc), {"Retry-After": str(exc.retry_after)}) from exc
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
    responses=_OPEN_RESPONSES,
)
async def pay_from_link(
    token: Token, body: QrPayIn, request: Request, pool: Pool, gateways: GatewaysDep
) -> Any:
    """Pay what the link shows, as from the QR code (``POST /qr/{token}/orders``): the named
    invoices, or every open invoice (of ``collection`` if given), for what they owe today.
    404 / 410 as ``GET /p/{token}``; orders limited per link and per client address (the QR
    limits, ``PAYMENTS_QR_ORDERS_PER_*``); gateway failures 502/503 problem bodies."""
    now = datetime.now(UTC)
    if gateways.clients.get(body.channel) is not None:
        check_payer_id(body.channel, body.scene, body.payer_openid)
    key = gateways.settings.pay_link_key()
    try:
        pay_links.signed(key, token)
        async with pool.acquire() as conn, conn.transaction():
            link = await pay_links.resolve(conn, key, token, now)
            await limit_orders(conn, gateways, f"pay-link:{token}", _client(request), now)
            row = await order_for_link(conn, gateways, link.unit_id, body, now)
    except UnknownPayLink as exc:
        raise HTTPException(404, UNKNOWN) from exc
    except PayLinkGone as exc:
        raise _gone(exc) from exc
    return await prepay_view(pool, gateways, row, body, now)


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why (kept in the audit trail)")


@router.post("/pay-links/{token}/revoke")
async def revoke_pay_link(
    token: Token, body: RevokeIn, pool: Pool, principal: PayLinkRevoker
) -> PayLinkView:
    """Revoke a pay link of the caller's communities (404 for another's): it answers 410
    from now on. Idempotent: revoking a revoked link keeps the first revocation and audits
    nothing new; the first is audited (``pay_link.revoked``, with the reason)."""
    reason = body.reason.strip()
    if not reason:
        raise HTTPException(422, "a reason is required")
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        row = await security.pay_link(conn, principal, token, for_update=True)
        was_expired = now >= row["expires_at"]
        link, revoked = await pay_links.revoke(conn, token, principal.subject[:64], reason, now)
        if revoked:
            await audit.record(
                conn,
                principal,
                "pay_link.revoked",
                "pay_link",
                token,
                community_id=link.community_id,
                unit_id=link.unit_id,
                before={"state": "expired" if was_expired else "active"},
                after={"state": "revoked", "revoked_at": now},
                reason=reason,
                company_id=row["company_id"],
            )
    return _view(link, now)


@router.get("/units/{unit_id}/pay-links")
async def unit_pay_links(unit_id: str, pool: Pool, principal: Reader) -> list[PayLinkView]:
    """Staff: the unit's pay links, newest first, each with its state at the server's clock
    (``active``, ``expired``, ``revoked``). A unit of the caller's scope only (404)."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await security.unit(conn, principal, unit_id)
        links = await pay_links.unit_links(conn, unit_id)
    return [_view(link, now) for link in links]
