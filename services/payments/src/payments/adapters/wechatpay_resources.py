"""Decrypted WeChat Pay resources (transactions, refunds) as payments' own values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payments.domain.refunds import RefundReport
from payments.domain.settlement import GatewayReport


def transaction_report(resource: dict[str, Any]) -> GatewayReport | None:
    """A SUCCESS transaction (notification or query answer); None for any other state."""
    if resource.get("trade_state") != "SUCCESS":
        return None
    amount = resource["amount"]
    return GatewayReport(
        gateway="wechatpay",
        channel="wechat_pay",
        transaction_id=str(resource["transaction_id"]),
        out_trade_no=str(resource["out_trade_no"]),
        amount_fen=int(amount["total"]),
        currency=str(amount.get("currency", "CNY")),
        paid_at=datetime.fromisoformat(resource["success_time"]),
    )


def refund_report(resource: dict[str, Any], fallback_at: datetime) -> RefundReport:
    success_time = resource.get("success_time")
    return RefundReport(
        out_refund_no=str(resource["out_refund_no"]),
        gateway_refund_id=str(resource.get("refund_id", "")),
        succeeded=resource.get("refund_status") == "SUCCESS",
        amount_fen=int(resource["amount"]["refund"]),
        at=datetime.fromisoformat(success_time) if success_time else fallback_at,
        failure=str(resource.get("refund_status", "")),
    )
