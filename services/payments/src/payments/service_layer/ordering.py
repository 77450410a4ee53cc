"""Payment orders as staff and the owner app's backend ask for them: made within the caller's
scope, read, asked at the gateway, expired, collected with a payment code at the counter.

Each function is one use case the HTTP routes call (parse, call, translate): the scope
checks, the gateway calls and their failures (``errors.GatewayFailure``) live here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from payments.adapters.gateways import Gateways
from payments.domain.orders import OrderError, OrderTerms
from payments.errors import IdempotencyConflict, NotConfigured
from payments.service_layer import access, codepay, orders
from payments.service_layer.expiry import expire_orders
from payments.service_layer.gateway_payments import record_gateway_payment
from payments.service_layer.prepay import gateway_failure, prepay
from propfee.auth import Principal, mask_personal
from propfee.logging import get_logger
from propfee.problems import Conflict, FieldProblem

log = get_logger(__name__)


def check_payer_id(channel: str, scene: str, payer_openid: str | None) -> None:
    """WeChat Pay JSAPI and Alipay's in-app payment need the payer's id (422 before any order
    is made, rather than a gateway error after)."""
    if scene == "jsapi" and channel in ("wechat_pay", "alipay") and not payer_openid:
        reason = f"{channel} {scene} needs the payer's id"
        raise OrderError(
            f"payer_openid: {reason}",
            errors=[FieldProblem(field="payer_openid", reason=reason)],
        )


async def terms_in_scope(
    conn: asyncpg.Connection, principal: Principal, request: orders.OrderRequest, now: datetime
) -> OrderTerms:
    """The order's terms (``OrderError`` 422), once its community is known to be within the
    caller's scope (404 else)."""
    terms = await orders.order_terms(conn, request, now)
    await access.community(conn, principal, terms.community_id)
    return terms


async def _create(
    pool: asyncpg.Pool,
    principal: Principal,
    request: orders.OrderRequest,
    now: datetime,
    ttl: timedelta,
) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        terms = await terms_in_scope(conn, principal, request, now)
        return await orders.create_order(conn, request, now, ttl, terms)


async def create_order(
    pool: asyncpg.Pool,
    gateways: Gateways,
    principal: Principal,
    request: orders.OrderRequest,
    payer_openid: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Fix the amount, commit the order, then ask the gateway to prepay (a failure marks the
    order ``failed`` and raises ``GatewayFailure``). A channel this deployment has not
    configured makes the order all the same, with ``gateway_error``."""
    client = gateways.clients.get(request.channel)
    if client is not None:
        check_payer_id(request.channel, request.scene, payer_openid)
    ttl = timedelta(seconds=gateways.settings.order_ttl_s)
    row = await _create(pool, principal, request, now, ttl)
    view = mask_personal(principal, orders.order_view(row, now))
    if client is None:
        view["gateway_error"] = f"{request.channel} is not configured"
        return view
    view["gateway_payload"] = await prepay(pool, client, row, request.scene, payer_openid, now)
    return view


async def visible_order(pool: Any, principal: Principal, order_id: str) -> dict[str, Any]:
    """The order row when the caller may see it (404 otherwise)."""
    row = dict(await access.order(pool, principal, order_id))
    row.pop("company_id", None)
    row.pop("expiry_lease_until", None)
    return row


async def get_order(pool: Any, principal: Principal, order_id: str) -> dict[str, Any]:
    view = orders.order_view(await visible_order(pool, principal, order_id), datetime.now(UTC))
    return mask_personal(principal, view)


async def query_order(
    pool: asyncpg.Pool, gateways: Gateways, principal: Principal, order_id: str
) -> dict[str, Any]:
    """Ask the gateway; a paid answer is recorded like a notification (one payment either
    way). ``NotConfigured`` (409) for a channel without a client; ``GatewayFailure``."""
    row = await visible_order(pool, principal, order_id)
    client = gateways.clients.get(row["channel"])
    if client is None:
        raise NotConfigured(row["channel"])
    now = datetime.now(UTC)
    try:
        result = await client.query(row["out_trade_no"])
    except Exception as exc:
        log.warning("order query failed", channel=row["channel"], error=type(exc).__name__)
        raise gateway_failure(row["channel"], exc) from exc
    recorded = None
    if result.report is not None:
        async with pool.acquire() as conn, conn.transaction():
            recorded = await record_gateway_payment(conn, result.report, now)
    view = orders.order_view(await visible_order(pool, principal, order_id), now)
    view = mask_personal(principal, view)
    view["gateway_state"] = result.state
    view["recorded"] = recorded.__dict__ if recorded else None
    return view


async def expire_due_orders(
    pool: asyncpg.Pool, gateways: Gateways, principal: Principal, as_of: datetime
) -> dict[str, Any]:
    """Every pending order of the caller's communities past its expiry as of ``as_of``
    (``service_layer.expiry``)."""
    lease = timedelta(seconds=gateways.settings.order_expiry_lease_s)
    run = await expire_orders(
        pool, gateways.clients, as_of, lease=lease, scope=principal.sql_scope()
    )
    return run.as_dict()


async def collect_with_payment_code(
    pool: asyncpg.Pool,
    gateways: Gateways,
    principal: Principal,
    request: orders.OrderRequest,
    auth_code: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Counter: an order for the payer's payment code (the scope first: what is not the
    caller's is not found, configured or not), then collect, query, reverse if unknown.

    With an ``idempotency_key`` the same scan sent again (a retry, a second click) charges
    nothing more: it answers with the first scan's outcome, waiting for it while the first
    is still with the gateway; the key used for another scan is a 409."""
    async with pool.acquire() as conn:
        terms = await terms_in_scope(conn, principal, request, now)
    client = gateways.clients.get(request.channel)
    if client is None:
        raise NotConfigured(request.channel)
    s = gateways.settings
    if idempotency_key is not None:
        digest = _scan_hash(request, auth_code)
        if not await _claim_scan_key(pool, terms.community_id, idempotency_key, digest, now):
            # The first scan queries up to `attempts` times, then reverses: wait that long.
            patience = s.codepay_query_attempts * s.codepay_query_interval_s + 30.0
            return await _first_scan_result(pool, terms.community_id, idempotency_key, patience)
    try:
        row = await _create(pool, principal, request, now, timedelta(minutes=5))
    except BaseException:
        if idempotency_key is not None:  # nothing reached the gateway: the key is free again
            await pool.execute(
                "DELETE FROM code_scans WHERE community_id = $1 AND idempotency_key = $2 "
                "AND order_id IS NULL",
                terms.community_id,
                idempotency_key,
            )
        raise
    key = (terms.community_id, idempotency_key) if idempotency_key is not None else None
    answer: dict[str, Any] = {"order_id": row["order_id"], "out_trade_no": row["out_trade_no"]}
    if key is not None:
        await _record_scan(pool, key, row["order_id"], None)
    try:
        result = await codepay.collect_with_code(
            pool,
            client,
            row,
            auth_code,
            attempts=s.codepay_query_attempts,
            interval_s=s.codepay_query_interval_s,
            now=lambda: datetime.now(UTC),
        )
    except Exception:
        # The code may have been charged: a replay is told to check, never charged again.
        if key is not None:
            detail = "the scan broke off: check the order with the gateway"
            unknown = {**answer, "status": "unknown", "detail": detail}
            await _record_scan(pool, key, row["order_id"], unknown)
        raise
    answer.update(result)
    if key is not None:
        await _record_scan(pool, key, row["order_id"], answer)
    return answer


async def _record_scan(
    pool: asyncpg.Pool, key: tuple[str, str], order_id: str, result: dict[str, Any] | None
) -> None:
    await pool.execute(
        "UPDATE code_scans SET order_id = $3, result = $4 "
        "WHERE community_id = $1 AND idempotency_key = $2",
        *key,
        order_id,
        result,
    )


def _scan_hash(request: orders.OrderRequest, auth_code: str) -> str:
    """What makes two scans the same scan (the code included, so it is never stored)."""
    data = {
        "unit_id": request.unit_id,
        "community_id": request.community_id,
        "payer_party_id": request.payer_party_id,
        "invoice_ids": list(request.invoice_ids),
        "amount_fen": request.amount_fen,
        "auth_code": auth_code,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


async def _claim_scan_key(
    pool: asyncpg.Pool, community_id: str, key: str, digest: str, now: datetime
) -> bool:
    """True when this request is the key's first scan; a key used for another scan is 409."""
    async with pool.acquire() as conn:
        first = await conn.fetchval(
            "INSERT INTO code_scans (community_id, idempotency_key, request_hash, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            community_id,
            key,
            digest,
            now,
        )
        if first:
            return True
        used_for = await conn.fetchval(
            "SELECT request_hash FROM code_scans WHERE community_id = $1 AND idempotency_key = $2",
            community_id,
            key,
        )
    if used_for is None:  # the first scan failed without an outcome in between: try again
        return await _claim_scan_key(pool, community_id, key, digest, now)
    if used_for != digest:
        raise IdempotencyConflict(
            "Idempotency-Key was already used for a different scan; use a new key"
        )
    return False


async def _first_scan_result(
    pool: asyncpg.Pool, community_id: str, key: str, patience_s: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    while True:
        row = await pool.fetchrow(
            "SELECT order_id, result FROM code_scans "
            "WHERE community_id = $1 AND idempotency_key = $2",
            community_id,
            key,
        )
        if row is not None and row["result"] is not None:
            result: dict[str, Any] = row["result"]
            return result
        if row is None or loop.time() > deadline:
            order = row["order_id"] if row is not None else None
            raise Conflict(
                "a scan with this Idempotency-Key has no outcome yet"
                + (f" (order {order}): ask GET /orders/{order}" if order else "")
                + "; retry shortly"
            )
        await asyncio.sleep(0.2)
