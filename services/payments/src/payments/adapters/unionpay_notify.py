"""UnionPay 全渠道 5.1.0 back notifications (后台通知).

The signer's certificate travels in ``signPubKeyCert``; it must chain to the configured
intermediate and root and belong to UnionPay. The signed string is every field except
``signature``, sorted, ``k=v`` joined by ``&``; its SHA-256 in lower-case hex is what is
signed with SHA256withRSA.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from payments.adapters.crypto import VerificationError, verify_chain, verify_sha256_rsa
from payments.adapters.keys import UnionPayKeys
from payments.domain.orders import SHANGHAI
from payments.domain.refunds import RefundReport
from payments.domain.settlement import GatewayReport

CURRENCIES = {"156": "CNY", "840": "USD", "344": "HKD"}


def signing_digest(params: dict[str, str]) -> bytes:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    return hashlib.sha256(text.encode()).hexdigest().encode()


def _belongs_to(cert: x509.Certificate, org: str) -> bool:
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    names += [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return any(org in str(n).split("@") or str(n) == org for n in names)


def verify_notification(keys: UnionPayKeys, params: dict[str, str], now: datetime) -> None:
    if params.get("signMethod") != "01" or params.get("version") != "5.1.0":
        raise VerificationError("only version 5.1.0 with signMethod 01 (RSA) is accepted")
    try:
        cert = x509.load_pem_x509_certificate(params.get("signPubKeyCert", "").encode())
    except ValueError as exc:
        raise VerificationError("signPubKeyCert is not a certificate") from exc
    verify_chain(cert, keys.middle, keys.root, now)
    if not _belongs_to(cert, keys.cert_org):
        raise VerificationError("signPubKeyCert does not belong to UnionPay")
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise VerificationError("signPubKeyCert holds no RSA key")
    verify_sha256_rsa(public, signing_digest(params), params.get("signature", ""))
    if params.get("merId") != keys.mer_id:
        raise VerificationError("notification for another merchant")


def _instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)


def _fen(text: str) -> int:
    """``txnAmt``: fen in ASCII digits (int() would also take "１２" and "+5")."""
    if not (text.isascii() and text.isdigit() and len(text) <= 13):
        raise ValueError("txnAmt is not an amount in fen")
    return int(text)


def payment_report(params: dict[str, str]) -> GatewayReport | None:
    """A consumption (txnType 01) answered 00; None otherwise."""
    if params.get("txnType") != "01" or params.get("respCode") != "00":
        return None
    return GatewayReport(
        gateway="unionpay",
        channel="unionpay",
        transaction_id=params["queryId"],
        out_trade_no=params["orderId"],
        amount_fen=_fen(params["txnAmt"]),
        currency=CURRENCIES.get(params["currencyCode"], params["currencyCode"]),  # required
        paid_at=_instant(params["txnTime"]),
    )


def refund_report(params: dict[str, str]) -> RefundReport | None:
    """A refund (txnType 04): our out_refund_no is its orderId."""
    if params.get("txnType") != "04":
        return None
    return RefundReport(
        out_refund_no=params["orderId"],
        gateway_refund_id=params.get("queryId", ""),
        succeeded=params.get("respCode") == "00",
        amount_fen=_fen(params["txnAmt"]),
        at=_instant(params["txnTime"]),
        failure=params.get("respMsg", "")[:200],
        gateway="unionpay",
    )
