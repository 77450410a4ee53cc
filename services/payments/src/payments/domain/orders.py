"""Payment orders: a fixed amount for one household, a short unique out_trade_no, an expiry.

``out_trade_no`` must suit every gateway: WeChat Pay wants 6-32 characters of letters, digits,
``_-|*``; Alipay up to 64; UnionPay's ``orderId`` 8-32 letters and digits. So it is 22
characters: ``P`` + local date and time to the second + 7 random base-32 characters.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32, no I L O U


class OrderError(ValueError):
    """A payment order that cannot be created, with the reason people can act on."""


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    invoice_id: str
    community_id: str
    unit_id: str
    payer_party_id: str
    total_fen: int


@dataclass(frozen=True, slots=True)
class OrderTerms:
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: tuple[str, ...]
    amount_fen: int


def new_out_trade_no(at: datetime, random: str | None = None) -> str:
    """``P`` + yymmddHHMMSS (Shanghai time) + 7 random base-32 characters: 20 characters."""
    suffix = random if random is not None else "".join(secrets.choice(_ALPHABET) for _ in range(7))
    return "P" + at.astimezone(SHANGHAI).strftime("%y%m%d%H%M%S") + suffix


def order_expiry(created_at: datetime, ttl: timedelta) -> datetime:
    if ttl <= timedelta(0) or ttl > timedelta(hours=24):
        raise OrderError("an order lives between one second and 24 hours")
    return created_at + ttl


def terms_for_invoices(
    invoice_ids: Sequence[str], open_invoices: Mapping[str, OpenInvoice], unit_id: str
) -> OrderTerms:
    """The order for named invoices: every one open and of the same household; the amount
    is their total as billed, fixed now."""
    if not invoice_ids:
        raise OrderError("name at least one invoice, or give an amount on account")
    if len(set(invoice_ids)) != len(invoice_ids):
        raise OrderError("an invoice is named twice")
    chosen = []
    for invoice_id in invoice_ids:
        invoice = open_invoices.get(invoice_id)
        if invoice is None:
            raise OrderError(f"invoice {invoice_id} is not open (unknown, or already settled)")
        if invoice.unit_id != unit_id:
            raise OrderError(f"invoice {invoice_id} belongs to another unit")
        chosen.append(invoice)
    payers = {i.payer_party_id for i in chosen}
    if len(payers) > 1:
        raise OrderError("the invoices have different payers; pay them separately")
    first = chosen[0]
    return OrderTerms(
        community_id=first.community_id,
        unit_id=unit_id,
        payer_party_id=first.payer_party_id,
        invoice_ids=tuple(invoice_ids),
        amount_fen=sum(i.total_fen for i in chosen),
    )


def terms_on_account(
    community_id: str, unit_id: str, payer_party_id: str, amount_fen: int
) -> OrderTerms:
    """An amount paid on account (prepayment, part payment) for the household."""
    if amount_fen <= 0:
        raise OrderError("the amount on account must be positive")
    return OrderTerms(community_id, unit_id, payer_party_id, (), amount_fen)
