"""What becomes of money a gateway reports: a payment of the order, or an exception.

An exception is never lost money: it is kept for finance to review, and the gateway is still
told the notification was received so it stops retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ExceptionReason = Literal[
    "unknown_order", "currency", "amount_mismatch", "expired_order", "already_paid"
]


@dataclass(frozen=True, slots=True)
class GatewayReport:
    """One successful gateway transaction, as a notification or a status query tells it."""

    gateway: str  # wechatpay | alipay | unionpay
    channel: str  # the PaymentReceived channel: wechat_pay | alipay | unionpay
    transaction_id: str
    out_trade_no: str
    amount_fen: int
    currency: str
    paid_at: datetime

    @property
    def dedup_key(self) -> str:
        return f"{self.gateway}:{self.transaction_id}"


@dataclass(frozen=True, slots=True)
class OrderState:
    order_id: str
    amount_fen: int
    currency: str
    status: str  # pending | paid | closed | expired
    expires_at: datetime
    payment_id: str | None


@dataclass(frozen=True, slots=True)
class Accept:
    order_id: str


@dataclass(frozen=True, slots=True)
class Review:
    reason: ExceptionReason
    detail: str


def settle(order: OrderState | None, report: GatewayReport) -> Accept | Review:
    """Decide: apply the money to the order, or hold it for finance review."""
    if order is None:
        return Review("unknown_order", f"no order has out_trade_no {report.out_trade_no}")
    if report.currency != "CNY":
        return Review("currency", f"paid in {report.currency}, orders are in CNY")
    if report.amount_fen != order.amount_fen:
        return Review(
            "amount_mismatch", f"paid {report.amount_fen} fen, the order is {order.amount_fen} fen"
        )
    if order.status == "paid":
        return Review("already_paid", f"the order was already paid by {order.payment_id}")
    if order.status in ("closed", "expired") or report.paid_at > order.expires_at:
        return Review(
            "expired_order",
            f"paid at {report.paid_at.isoformat()}, the order expired at "
            f"{order.expires_at.isoformat()} (status {order.status})",
        )
    return Accept(order.order_id)
