"""What a receipt (收款收据) says, as pure data: its lines, its verification code, its labels.

A receipt is handed to the payer and kept as proof of payment, so it reads like the paper
original: each fee item the money paid with its period and amount, the late fee as its own
line, credit left as prepayment, the total in figures and in capital numerals, the channel
and the gateway's transaction number, the cashier, and a short code anyone can check at
``/receipts/verify/{code}`` (an HMAC of the receipt number under billing's receipt secret:
it cannot be guessed or made from the number without the secret).

Allocation is per invoice (``domain/account.py``); a receipt shows it per fee item. An
invoice paid whole by one payment shows its lines as billed (a discount line included); a
part payment covers the invoice's fee items in the order they are billed, after what
earlier payments covered, so consecutive part payments print consecutive parts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from propfee.money import yuan_in_words

#: How the channel is printed.
CHANNELS = {
    "wechat_pay": "微信支付",
    "alipay": "支付宝",
    "unionpay": "云闪付",
    "cash": "现金",
    "bank_card": "银行卡",
    "pos": "POS刷卡",
    "bank_withholding": "银行代扣",
}
LATE_FEE = "违约金"
PREPAYMENT = "预存款"  # credit left on the account for later bills
#: Money of the payment no longer on an invoice or on account: refunded, or moved by a void.
RETURNED = "已退款或转出"
#: Lower-case letters and digits that cannot be misread on paper (no 0/o, 1/l/i).
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_CHARS = 12  # 31**12 ≈ 7.9e17: a guess does not find a receipt


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    item: str
    period: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Paid:
    """What the payment put on one invoice's principal or late fee (net of reversals)."""

    component: str  # principal | late_fee
    period: str
    amount_fen: int
    #: What earlier payments had put on the invoice's principal before this one.
    before_fen: int = 0
    #: The invoice's lines in billing order: (fee item, fen); a discount is negative.
    lines: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """Everything a printed receipt shows (``adapters/receipt_pdf.py`` lays it out)."""

    number: str
    company_name: str
    community_name: str
    room: str
    payer_name: str | None
    paid_at: datetime  # the community's local time
    channel: str  # as printed (微信支付)
    transaction_id: str | None
    cashier: str | None
    lines: tuple[ReceiptLine, ...]
    amount_fen: int
    verify_url: str
    #: 1 for the first download (the original); every later one is a reprint (重印).
    copy: int
    service_phone: str | None = None

    def __post_init__(self) -> None:
        if sum(line.amount_fen for line in self.lines) != self.amount_fen:
            raise ValueError(f"receipt {self.number}: its lines do not add up to its amount")

    @property
    def reprint(self) -> bool:
        return self.copy > 1

    @property
    def amount_in_words(self) -> str:
        return yuan_in_words(self.amount_fen)


def verification_code(secret: bytes, receipt_no: str) -> str:
    """The short code of a receipt: its number's HMAC-SHA256 in :data:`CODE_ALPHABET`."""
    digest = hmac.new(secret, f"receipt:{receipt_no}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    out = []
    for _ in range(CODE_CHARS):
        number, digit = divmod(number, len(CODE_ALPHABET))
        out.append(CODE_ALPHABET[digit])
    return "".join(out)


def verify_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/receipts/verify/{code}"


def room_label(unit_key: str) -> str:
    """A room as people write it: billing's ``9栋/2单元/502`` -> ``9栋2单元502``; a bare
    number gets its word (``9/2/502`` -> ``9栋2单元502``); ``-`` (no entrance) is left out.

    Private to billing's receipt until ``propfee.labels.room_label_of_key`` (being added for
    every owner-facing text) is in main; then this gives way to it."""
    parts = unit_key.split("/")
    if len(parts) != 3:
        return unit_key
    building, entrance, room = parts
    building += "栋" if building.isdigit() else ""
    entrance = "" if entrance == "-" else entrance + ("单元" if entrance.isdigit() else "")
    return f"{building}{entrance}{room}"


def period_label(start: date, end: date) -> str:
    """``2026年11月``; a span of months ``2026年10月至2026年12月``."""
    first = f"{start.year}年{start.month}月"
    if (start.year, start.month) == (end.year, end.month):
        return first
    return f"{first}至{end.year}年{end.month}月"


def principal_lines(
    lines: Sequence[tuple[str, int]], before_fen: int, paid_fen: int
) -> list[tuple[str, int]]:
    """What ``paid_fen`` of an invoice's principal paid, by fee item (name, fen), adding up
    to ``paid_fen``. ``lines`` are the invoice's lines in billing order (a discount is a
    negative line); ``before_fen`` is what earlier payments put on the invoice's principal.

    Paid whole at once: the lines as billed (a discount lapsed after the due date is not
    deducted: the positive lines alone). A part: the positive lines in order from
    ``before_fen`` on."""
    positive = [(name, fen) for name, fen in lines if fen > 0]
    if before_fen == 0 and paid_fen == sum(fen for _, fen in lines):
        chosen = [(name, fen) for name, fen in lines if fen]
    elif before_fen == 0 and paid_fen == sum(fen for _, fen in positive):
        chosen = positive
    else:
        chosen, cursor, start, end = [], 0, before_fen, before_fen + paid_fen
        for name, fen in positive:
            part = min(end, cursor + fen) - max(start, cursor)
            if part > 0:
                chosen.append((name, part))
            cursor += fen
        rest = paid_fen - sum(fen for _, fen in chosen)
        if rest:  # beyond the lines (an invoice without lines): the invoice's principal
            chosen.append((chosen[-1][0] if chosen else "费用", rest))
    grouped: dict[str, int] = {}
    for name, fen in chosen:
        grouped[name] = grouped.get(name, 0) + fen
    return [(name, fen) for name, fen in grouped.items() if fen]


def receipt_lines(paid: Sequence[Paid], credit_fen: int, amount_fen: int) -> list[ReceiptLine]:
    """The receipt's lines: each invoice's principal by fee item, its late fee as its own line,
    credit left as prepayment, and what is no longer there (refunded, or moved by a void) so
    the lines add up to the money received."""
    out: list[ReceiptLine] = []
    for p in paid:
        if p.component == "late_fee":
            out.append(ReceiptLine(LATE_FEE, p.period, p.amount_fen))
            continue
        items = principal_lines(p.lines, p.before_fen, p.amount_fen)
        out += [ReceiptLine(name, p.period, fen) for name, fen in items]
    if credit_fen:
        out.append(ReceiptLine(PREPAYMENT, "—", credit_fen))
    returned = amount_fen - sum(line.amount_fen for line in out)
    if returned:
        out.append(ReceiptLine(RETURNED, "—", returned))
    return out
