"""Alipay asynchronous notifications (异步通知): form-encoded, RSA2 signed.

The signed string is every parameter except ``sign`` and ``sign_type``, sorted by key,
``k=v`` joined by ``&``, with empty values kept, over the URL-decoded values.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl

from payments.adapters.crypto import VerificationError, verify_sha256_rsa
from payments.adapters.keys import AlipayKeys
from payments.domain.orders import SHANGHAI
from payments.domain.refunds import RefundReport
from payments.domain.settlement import GatewayReport
from propfee.money import MoneyError, yuan_to_fen

PAID_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")


def signing_string(params: dict[str, str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type"))


def parse_form(body: bytes) -> dict[str, str]:
    """Decode the form with the charset it declares (utf-8 unless it says gbk)."""
    charset = "utf-8"
    for key, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if key == "charset" and value.lower() in ("gbk", "gb2312", "gb18030"):
            charset = "gb18030"
    pairs = parse_qsl(
        body.decode("ascii", errors="replace"),
        keep_blank_values=True,
        encoding=charset,
        errors="strict",
    )
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise VerificationError(f"parameter {key} given twice")
        params[key] = value
    return params


def verify_notification(keys: AlipayKeys, params: dict[str, str]) -> None:
    sign = params.get("sign", "")
    if not sign:
        raise VerificationError("missing sign")
    if params.get("sign_type", "RSA2") != "RSA2":
        raise VerificationError("only RSA2 signatures are accepted")
    verify_sha256_rsa(keys.alipay_public_key, signing_string(params).encode(), sign)
    if params.get("app_id") != keys.app_id:
        raise VerificationError("notification for another app_id")
    if keys.check_seller_id and params.get("seller_id") != keys.seller_id:
        raise VerificationError("notification for another seller")


def _instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


def payment_report(params: dict[str, str]) -> GatewayReport | None:
    """A paid trade, or None for other states (waiting, closed) and refund notifications."""
    if params.get("trade_status") not in PAID_STATES or params.get("refund_fee"):
        return None
    try:
        amount = yuan_to_fen(params["total_amount"])
    except MoneyError as exc:
        raise VerificationError("total_amount is not an amount") from exc
    return GatewayReport(
        gateway="alipay",
        channel="alipay",
        transaction_id=params["trade_no"],
        out_trade_no=params["out_trade_no"],
        amount_fen=amount,
        currency=params.get("trans_currency") or params.get("currency") or "CNY",
        paid_at=_instant(params.get("gmt_payment") or params["notify_time"]),
    )


def refund_report(params: dict[str, str]) -> RefundReport | None:
    """Refund notifications carry ``out_biz_no`` (our out_refund_no) and ``refund_fee``."""
    if not params.get("refund_fee") or not params.get("out_biz_no"):
        return None
    return RefundReport(
        out_refund_no=params["out_biz_no"],
        gateway_refund_id=params.get("trade_no", ""),
        succeeded=True,
        amount_fen=yuan_to_fen(params["refund_fee"]),
        at=_instant(params.get("gmt_refund", params["notify_time"]).split(".")[0]),
        gateway="alipay",
    )
