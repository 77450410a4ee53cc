"""Decrypted WeChat Pay resources (transactions, refunds) as payments' own values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payments.domain.refunds import RefundReport
from payments.domain.settlement import GatewayReport


def _text(resource: Any, key: str) -> str:
    value = resource[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _fen(amount: Any, key: str) -> int:
    value = amount[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amount.{key} is not an integer")
    return value


def _instant(text: Any) -> datetime:
    if not isinstance(text, str) or len(text) > 40:
        raise TypeError("success_time is not a time")
    return datetime.fromisoformat(text)


def transaction_report(resource: dict[str, Any]) -> GatewayReport | None:
    """A SUCCESS transaction (notification or query answer); None for any other state. Every
    field read has its documented type, or the resource is malformed (TypeError/ValueError)."""
    if resource.get("trade_state") != "SUCCESS":
        return None
    amount = resource["amount"]
    if not isinstance(amount, dict):
        raise TypeError("amount is not an object")
    currency = amount.get("currency", "CNY")
    if not isinstance(currency, str):
        raise TypeError("amount.currency is not a string")
    return GatewayReport(
        gateway="wechatpay",
        channel="wechat_pay",
        transaction_id=_text(resource, "transaction_id"),
        out_trade_no=_text(resource, "out_trade_no"),
        amount_fen=_fen(amount, "total"),
        currency=currency,
        paid_at=_instant(resource["success_time"]),
    )


def refund_report(resource: dict[str, Any], fallback_at: datetime) -> RefundReport:
    amount = resource["amount"]
    if not isinstance(amount, dict):
        raise TypeError("amount is not an object")
    success_time = resource.get("success_time")
    status = resource.get("refund_status", "")
    refund_id = resource.get("refund_id", "")
    if not isinstance(status, str) or not isinstance(refund_id, str):
        raise TypeError("refund_status or refund_id is not a string")
    return RefundReport(
        out_refund_no=_text(resource, "out_refund_no"),
        gateway_refund_id=refund_id,
        succeeded=status == "SUCCESS",
        amount_fen=_fen(amount, "refund"),
        at=_instant(success_time) if success_time else fallback_at,
        failure=status[:200],
        gateway="wechatpay",
    )
