"""Alipay's side: RSA2-signed asynchronous notifications (from the open-platform docs)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from payments_testkit.keys import rsa_sign

CST = timezone(timedelta(hours=8))
APP_ID = "2021000117650139"
SELLER_ID = "2088102177846880"


def notification(out_trade_no: str, total_amount: str, **overrides: str) -> dict[str, str]:
    now = datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")
    params = {
        "gmt_create": now,
        "charset": "utf-8",
        "seller_email": "",  # an empty value: kept in the signed string
        "subject": "物业服务费",
        "buyer_id": "2088102177846875",
        "invoice_amount": total_amount,
        "notify_id": secrets.token_hex(16),
        "fund_bill_list": json.dumps([{"amount": total_amount, "fundChannel": "ALIPAYACCOUNT"}]),
        "notify_type": "trade_status_sync",
        "trade_status": "TRADE_SUCCESS",
        "receipt_amount": total_amount,
        "app_id": APP_ID,
        "buyer_pay_amount": total_amount,
        "notify_time": now,
        "point_amount": "0.00",
        "total_amount": total_amount,
        "seller_id": SELLER_ID,
        "trade_no": "2026" + secrets.token_hex(12),
        "auth_app_id": APP_ID,
        "gmt_payment": now,
        "out_trade_no": out_trade_no,
        "version": "1.0",
    }
    params.update(overrides)
    return params


def signed_form(params: dict[str, str], key: rsa.RSAPrivateKey) -> bytes:
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type"))
    signed = {**params, "sign_type": "RSA2", "sign": rsa_sign(key, content.encode())}
    return urlencode(signed).encode()
