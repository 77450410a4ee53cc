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

    def __post_init__(self) -> None:
        check_reference("transaction_id", self.transaction_id)
        check_reference("out_trade_no", self.out_trade_no)
        check_amount("amount", self.amount_fen)
        if not (isinstance(self.currency, str) and self.currency.isascii()):
            raise ValueError("currency is not a currency code")
        if not 1 <= len(self.currency) <= 8 or not self.currency.isalnum():
            raise ValueError("currency is not a currency code")
        check_instant("paid_at", self.paid_at)

    @property
    def dedup_key(self) -> str:
        return f"{self.gateway}:{self.transaction_id}"


#: The largest amount a gateway may report (10 billion yuan): anything above is not money.
MAX_AMOUNT_FEN = 10**12


def check_reference(name: str, value: object) -> None:
    """A gateway's id or ours: 1-64 printable ASCII characters (what every gateway uses)."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ValueError(f"{name} must be 1 to 64 characters")
    if not (value.isascii() and value.isprintable()):
        raise ValueError(f"{name} must be printable ASCII")


def check_amount(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of fen")
    if not 0 < value <= MAX_AMOUNT_FEN:
        raise ValueError(f"{name} out of range")


def check_instant(name: str, value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an instant with its time zone")


@dataclass(frozen=True, slots=True)
class OrderState:
    order_id: str
    amount_fen: int
    currency: str
    status: str  # pending | paid | closed | expired | failed (the gateway's prepay failed)
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
    if order.status in ("closed", "expired", "failed") or report.paid_at > order.expires_at:
        return Review(
            "expired_order",
            f"paid at {report.paid_at.isoformat()}, the order expired at "
            f"{order.expires_at.isoformat()} (status {order.status})",
        )
    return Accept(order.order_id)
