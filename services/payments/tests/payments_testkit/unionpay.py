"""UnionPay's side: 5.1.0 back notifications signed with a certificate under a test CA."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from payments_testkit.keys import Issued, issue, rsa_sign

CST = timezone(timedelta(hours=8))
MER_ID = "777290058110048"
ORG = "中国银联股份有限公司"


@dataclass
class UnionPaySide:
    root: Issued = field(
        default_factory=lambda: issue("CFCA TEST CS CA", ca=True, organization="CFCA")
    )
    middle: Issued = field(init=False)
    signer: Issued = field(init=False)

    def __post_init__(self) -> None:
        self.middle = issue("CFCA TEST OCA1", issuer=self.root, ca=True, organization="CFCA")
        self.signer = issue(
            f"041@Z12@00040000:SIGN@{ORG}@00000001", issuer=self.middle, organization=ORG
        )

    def sign(self, params: dict[str, str], signer: Issued | None = None) -> bytes:
        who = signer or self.signer
        fields = {**params, "signPubKeyCert": who.cert_pem.decode()}
        text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")
        digest = hashlib.sha256(text.encode()).hexdigest()
        fields["signature"] = rsa_sign(who.key, digest.encode())
        return urlencode(fields).encode()


def consumption(order_id: str, amount_fen: int, **overrides: str) -> dict[str, str]:
    txn_time = datetime.now(CST).strftime("%Y%m%d%H%M%S")
    params = {
        "version": "5.1.0",
        "encoding": "UTF-8",
        "signMethod": "01",
        "txnType": "01",
        "txnSubType": "01",
        "bizType": "000201",
        "accessType": "0",
        "merId": MER_ID,
        "orderId": order_id,
        "txnTime": txn_time,
        "txnAmt": str(amount_fen),
        "currencyCode": "156",
        "queryId": secrets.token_hex(10).upper()[:21],
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "traceNo": "123456",
        "traceTime": txn_time[4:],
        "settleAmt": str(amount_fen),
        "settleCurrencyCode": "156",
        "settleDate": txn_time[4:8],
        "accNo": "6216***********0018",
        "payType": "0001",
        "reqReserved": "",
    }
    params.update(overrides)
    return params
