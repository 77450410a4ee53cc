"""Refund rules: full or partial, never more than what is left of the payment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from payments.domain.orders import SHANGHAI
from payments.domain.settlement import check_amount, check_instant, check_reference
from propfee.problems import Conflict


class RefundError(Conflict, ValueError):
    """A refund that cannot be made, with the reason staff can act on."""


def check_refund(paid_fen: int, refunded_or_pending_fen: int, amount_fen: int, reason: str) -> None:
    if amount_fen <= 0:
        raise RefundError("the refund amount must be positive")
    if not reason.strip():
        raise RefundError("a refund needs a reason")
    left = paid_fen - refunded_or_pending_fen
    if amount_fen > left:
        raise RefundError(
            f"only {left} fen of the payment's {paid_fen} fen can still be refunded "
            f"({refunded_or_pending_fen} fen refunded or being refunded)"
        )


def new_out_refund_no(at: datetime) -> str:
    """``R`` + yymmddHHMMSS (Shanghai) + 7 random characters: fits every gateway."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    suffix = "".join(secrets.choice(alphabet) for _ in range(7))
    return "R" + at.astimezone(SHANGHAI).strftime("%y%m%d%H%M%S") + suffix


@dataclass(frozen=True)
class RefundReport:
    """A gateway's word on a refund (notification or query)."""

    out_refund_no: str
    gateway_refund_id: str
    succeeded: bool
    amount_fen: int
    at: datetime
    failure: str = ""
    #: The gateway reporting it (wechatpay | alipay | unionpay): it must be the gateway of the
    #: payment refunded. Empty: not said (a counter refund).
    gateway: str = ""

    def __post_init__(self) -> None:
        check_reference("out_refund_no", self.out_refund_no)
        if self.gateway_refund_id:
            check_reference("refund id", self.gateway_refund_id)
        check_amount("refund amount", self.amount_fen)
        check_instant("refund time", self.at)
        if not isinstance(self.failure, str) or len(self.failure) > 200 or "\x00" in self.failure:
            raise ValueError("refund failure text is malformed")


class RefundMismatch(ValueError):
    """A refund notification from another gateway than the payment's: changes nothing."""
