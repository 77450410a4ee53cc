"""Record what a gateway reports as paid: exactly once per gateway transaction.

The notification, its re-deliveries (even concurrent ones) and the order-status query of the
same payment all meet at one row of ``gateway_transactions``: the first to insert it decides,
the others wait for that transaction and then find it. The money becomes a payment of the
order's household, or an exception for finance when it cannot be applied safely.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from payments.domain.settlement import Accept, GatewayReport, OrderState, settle
from propfee.events import PaymentReceived
from propfee.logging import get_logger
from propfee.outbox import add_event

log = get_logger(__name__)


@dataclass(frozen=True)
class Recorded:
    outcome: str  # payment | exception
    record_id: str  # payment_id or exception_id
    duplicate: bool


async def record_gateway_payment(
    conn: asyncpg.Connection, report: GatewayReport, seen_at: datetime
) -> Recorded:
    """Call inside a transaction. Returns what the transaction became (the first time or now)."""
    inserted = await conn.fetchval(
        "INSERT INTO gateway_transactions (dedup_key, gateway, transaction_id, out_trade_no, "
        "amount_fen, currency, paid_at, outcome, seen_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING true",
        report.dedup_key,
        report.gateway,
        report.transaction_id,
        report.out_trade_no,
        report.amount_fen,
        report.currency,
        report.paid_at,
        seen_at,
    )
    if not inserted:
        row = await conn.fetchrow(
            "SELECT outcome, coalesce(payment_id, exception_id) AS id "
            "FROM gateway_transactions WHERE dedup_key = $1",
            report.dedup_key,
        )
        assert row is not None
        return Recorded(row["outcome"], row["id"], duplicate=True)
    order_row = await conn.fetchrow(
        "SELECT * FROM payment_orders WHERE out_trade_no = $1 FOR UPDATE", report.out_trade_no
    )
    order = None
    if order_row is not None:
        order = OrderState(
            order_row["order_id"],
            order_row["amount_fen"],
            order_row["currency"],
            order_row["status"],
            order_row["expires_at"],
            order_row["payment_id"],
        )
    decision = settle(order, report)
    if isinstance(decision, Accept):
        assert order_row is not None
        payment_id = await _pay_order(conn, order_row, report, seen_at)
        await conn.execute(
            "UPDATE gateway_transactions SET outcome = 'payment', payment_id = $2 "
            "WHERE dedup_key = $1",
            report.dedup_key,
            payment_id,
        )
        return Recorded("payment", payment_id, duplicate=False)
    exception_id = f"exc-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO payment_exceptions (exception_id, dedup_key, gateway, channel, "
        "transaction_id, out_trade_no, order_id, community_id, unit_id, amount_fen, currency, "
        "reason, detail, paid_at, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        exception_id,
        report.dedup_key,
        report.gateway,
        report.channel,
        report.transaction_id,
        report.out_trade_no,
        order_row["order_id"] if order_row else None,
        order_row["community_id"] if order_row else None,
        order_row["unit_id"] if order_row else None,
        report.amount_fen,
        report.currency,
        decision.reason,
        decision.detail,
        report.paid_at,
        seen_at,
    )
    await conn.execute(
        "UPDATE gateway_transactions SET outcome = 'exception', exception_id = $2 "
        "WHERE dedup_key = $1",
        report.dedup_key,
        exception_id,
    )
    log.warning(
        "gateway payment held for finance review",
        reason=decision.reason,
        gateway=report.gateway,
        exception_id=exception_id,
    )
    return Recorded("exception", exception_id, duplicate=False)


async def _pay_order(
    conn: asyncpg.Connection, order: asyncpg.Record, report: GatewayReport, seen_at: datetime
) -> str:
    payment_id = f"pay-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO payments (payment_id, dedup_key, community_id, unit_id, payer_party_id, "
        "invoice_ids, amount_fen, channel, gateway, gateway_transaction_id, out_trade_no, "
        "paid_at, received_at, request_hash, order_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $2, $14)",
        payment_id,
        report.dedup_key,
        order["community_id"],
        order["unit_id"],
        order["payer_party_id"],
        order["invoice_ids"],
        report.amount_fen,
        report.channel,
        report.gateway,
        report.transaction_id,
        report.out_trade_no,
        report.paid_at,
        seen_at,
        order["order_id"],
    )
    await conn.execute(
        "UPDATE payment_orders SET status = 'paid', paid_at = $2, payment_id = $3 "
        "WHERE order_id = $1",
        order["order_id"],
        report.paid_at,
        payment_id,
    )
    event = PaymentReceived(
        payment_id=payment_id,
        community_id=order["community_id"],
        unit_id=order["unit_id"],
        payer_party_id=order["payer_party_id"],
        invoice_ids=list(order["invoice_ids"]),
        amount_fen=report.amount_fen,
        channel=report.channel,
        gateway=report.gateway,
        gateway_transaction_id=report.transaction_id,
        out_trade_no=report.out_trade_no,
        paid_at=report.paid_at,
        received_at=seen_at,
    )
    await add_event(conn, event, key=order["unit_id"], subject=payment_id, time=seen_at)
    return payment_id
