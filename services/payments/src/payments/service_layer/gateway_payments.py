"""Record what a gateway reports as paid: exactly once per gateway transaction.

The notification, its re-deliveries (even concurrent ones) and the order-status query of the
same payment all meet at one row of ``gateway_transactions``: the first to insert it decides,
the others wait for that transaction and then find it. The money becomes a payment of the
order's household, or an exception for finance when it cannot be applied safely.

Reports are recorded set-based: one report (a status query) or the notifications that arrived
together (``service_layer.recorder``) cost the same few statements in one transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from payments.domain.settlement import Accept, GatewayReport, OrderState, Review, settle
from propfee.events import PaymentReceived
from propfee.logging import get_logger
from propfee.outbox import add_event, add_events

log = get_logger(__name__)


@dataclass(frozen=True)
class Recorded:
    outcome: str  # payment | exception
    record_id: str  # payment_id or exception_id
    duplicate: bool


#: Claim the gateway transactions and lock the orders of those reported for the first time.
#: A report that gets no row back was claimed before (a concurrent claim has committed by
#: then: ON CONFLICT waits for it). Sorted inserts and locks keep concurrent batches from
#: deadlocking in the common case; the recorder redoes a batch one by one if they do.
_CLAIM = """
WITH claimed AS (
    INSERT INTO gateway_transactions (dedup_key, gateway, transaction_id, out_trade_no,
                                      amount_fen, currency, paid_at, seen_at, outcome)
    SELECT *, 'pending' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                    $5::bigint[], $6::text[], $7::timestamptz[],
                                    $8::timestamptz[])
     ORDER BY 1
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING dedup_key, out_trade_no
), locked AS (
    SELECT order_id, out_trade_no, community_id, unit_id, payer_party_id, invoice_ids,
           amount_fen, currency, status, expires_at, payment_id
      FROM payment_orders
     WHERE out_trade_no IN (SELECT out_trade_no FROM claimed)
     ORDER BY out_trade_no
       FOR UPDATE
)
SELECT c.dedup_key, o.order_id, o.community_id, o.unit_id, o.payer_party_id, o.invoice_ids,
       o.amount_fen, o.currency, o.status, o.expires_at, o.payment_id
  FROM claimed c LEFT JOIN locked o ON o.out_trade_no = c.out_trade_no
"""

#: The payments (with their order's household), the paid orders and the transactions'
#: outcomes: one statement for the whole batch.
_PAY = """
WITH paying AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::timestamptz[],
                         $10::timestamptz[])
        AS t(payment_id, dedup_key, order_id, amount_fen, channel, gateway, transaction_id,
             out_trade_no, paid_at, received_at)
), payment AS (
    INSERT INTO payments (payment_id, dedup_key, community_id, unit_id, payer_party_id,
                          invoice_ids, amount_fen, channel, gateway, gateway_transaction_id,
                          out_trade_no, paid_at, received_at, request_hash, order_id)
    SELECT p.payment_id, p.dedup_key, o.community_id, o.unit_id, o.payer_party_id,
           o.invoice_ids, p.amount_fen, p.channel, p.gateway, p.transaction_id,
           p.out_trade_no, p.paid_at, p.received_at, p.dedup_key, p.order_id
      FROM paying p JOIN payment_orders o ON o.order_id = p.order_id
), paid AS (
    UPDATE payment_orders o SET status = 'paid', paid_at = p.paid_at, payment_id = p.payment_id
      FROM paying p WHERE o.order_id = p.order_id
)
UPDATE gateway_transactions g SET outcome = 'payment', payment_id = p.payment_id
  FROM paying p WHERE g.dedup_key = p.dedup_key
"""

#: The exception names the gateway's configured merchant account (the one whose money it is)
#: and so its company (``service_layer.accounts``).
_HOLD = """
WITH account AS (
    SELECT merchant_id, company_id FROM merchant_accounts WHERE gateway = $3 AND configured
     ORDER BY merchant_id LIMIT 1
), held AS (
    INSERT INTO payment_exceptions (exception_id, dedup_key, gateway, channel, transaction_id,
        out_trade_no, order_id, community_id, unit_id, amount_fen, currency, reason, detail,
        paid_at, created_at, merchant_id, company_id)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
           coalesce((SELECT merchant_id FROM account), ''), (SELECT company_id FROM account)
)
UPDATE gateway_transactions SET outcome = 'exception', exception_id = $1 WHERE dedup_key = $2
"""


@dataclass(frozen=True)
class _Payment:
    payment_id: str
    report: GatewayReport
    seen_at: datetime
    order: asyncpg.Record


async def record_gateway_payment(
    conn: asyncpg.Connection, report: GatewayReport, seen_at: datetime
) -> Recorded:
    """Call inside a transaction. Returns what the transaction became (the first time or now)."""
    return (await record_gateway_payments(conn, [(report, seen_at)]))[0]


async def record_gateway_payments(
    conn: asyncpg.Connection, reports: Sequence[tuple[GatewayReport, datetime]]
) -> list[Recorded]:
    """Call inside a transaction: each ``(report, seen_at)`` becomes what its transaction became
    (a payment or an exception, the first time or before), in the order given."""
    columns = list(zip(*((r.dedup_key, r.gateway, r.transaction_id, r.out_trade_no,
                          r.amount_fen, r.currency, r.paid_at, seen) for r, seen in reports),
                       strict=True))  # fmt: skip
    claimed = {row["dedup_key"]: row for row in await conn.fetch(_CLAIM, *columns)}
    results: dict[int, Recorded] = {}
    orders: dict[str, OrderState] = {}  # as this batch leaves them
    payments: list[_Payment] = []
    for i, (report, seen_at) in enumerate(reports):
        row = claimed.pop(report.dedup_key, None)  # a second report of it here is a repeat
        if row is None:
            continue
        order = orders.get(report.out_trade_no)
        if order is None and row["order_id"] is not None:
            order = OrderState(
                row["order_id"],
                row["amount_fen"],
                row["currency"],
                row["status"],
                row["expires_at"],
                row["payment_id"],
            )
        decision = settle(order, report)
        if isinstance(decision, Accept):
            assert order is not None
            payment = _Payment(f"pay-{uuid.uuid4()}", report, seen_at, row)
            payments.append(payment)
            orders[report.out_trade_no] = dataclasses.replace(
                order, status="paid", payment_id=payment.payment_id
            )
            results[i] = Recorded("payment", payment.payment_id, duplicate=False)
        else:
            exception_id = await _hold(conn, report, seen_at, row, decision)
            results[i] = Recorded("exception", exception_id, duplicate=False)
    await _pay(conn, payments)
    repeats = [i for i in range(len(reports)) if i not in results]
    if repeats:
        rows = await conn.fetch(
            "SELECT dedup_key, outcome, coalesce(payment_id, exception_id) AS id "
            "FROM gateway_transactions WHERE dedup_key = ANY($1::text[])",
            [reports[i][0].dedup_key for i in repeats],
        )
        known = {row["dedup_key"]: row for row in rows}
        for i in repeats:
            row = known[reports[i][0].dedup_key]
            results[i] = Recorded(row["outcome"], row["id"], duplicate=True)
    return [results[i] for i in range(len(reports))]


async def _pay(conn: asyncpg.Connection, payments: list[_Payment]) -> None:
    if not payments:
        return
    await conn.execute(
        _PAY,
        *zip(*((p.payment_id, p.report.dedup_key, p.order["order_id"], p.report.amount_fen,
                p.report.channel, p.report.gateway, p.report.transaction_id,
                p.report.out_trade_no, p.report.paid_at, p.seen_at) for p in payments),
             strict=True),
    )  # fmt: skip
    events = [
        (
            PaymentReceived(
                payment_id=p.payment_id,
                community_id=p.order["community_id"],
                unit_id=p.order["unit_id"],
                payer_party_id=p.order["payer_party_id"],
                invoice_ids=list(p.order["invoice_ids"]),
                amount_fen=p.report.amount_fen,
                channel=p.report.channel,
                gateway=p.report.gateway,
                gateway_transaction_id=p.report.transaction_id,
                out_trade_no=p.report.out_trade_no,
                paid_at=p.report.paid_at,
                received_at=p.seen_at,
            ),
            p.order["unit_id"],
            p.payment_id,
        )
        for p in payments
    ]
    if len(events) == 1:
        event, key, subject = events[0]
        await add_event(conn, event, key=key, subject=subject, time=payments[0].seen_at)
    else:  # one COPY; the batch's events share the instant its last report was seen
        await add_events(conn, events, time=max(p.seen_at for p in payments))


async def _hold(
    conn: asyncpg.Connection,
    report: GatewayReport,
    seen_at: datetime,
    order: asyncpg.Record,
    decision: Review,
) -> str:
    exception_id = f"exc-{uuid.uuid4()}"
    known = order["order_id"] is not None
    await conn.execute(
        _HOLD,
        exception_id,
        report.dedup_key,
        report.gateway,
        report.channel,
        report.transaction_id,
        report.out_trade_no,
        order["order_id"] if known else None,
        order["community_id"] if known else None,
        order["unit_id"] if known else None,
        report.amount_fen,
        report.currency,
        decision.reason,
        decision.detail,
        report.paid_at,
        seen_at,
    )
    log.warning(
        "gateway payment held for finance review",
        reason=decision.reason,
        gateway=report.gateway,
        exception_id=exception_id,
    )
    return exception_id
