"""Payment orders: a fixed amount for one household, a short unique out_trade_no, an expiry.

An order for named invoices asks for what they owe on the day it is priced for
(``domain.owed.amount_owed``: unpaid principal plus the late fee accrued to the day before).
When that amount would be larger a day later (a late fee accrues), the order expires at the
end of the community's local day it was priced for, so it is never paid on a later day for
less than that day owes; a payer after midnight makes a new order, priced for the new day.

``out_trade_no`` must suit every gateway: WeChat Pay wants 6-32 characters of letters, digits,
``_-|*``; Alipay up to 64; UnionPay's ``orderId`` 8-32 letters and digits. So it is 22
characters: ``P`` + local date and time to the second + 7 random base-32 characters.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from payments.domain.owed import OpenInvoice, amount_owed, grows_overnight
from propfee.problems import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32, no I L O U


class OrderError(InvalidInput, ValueError):
    """A payment order that cannot be created, with the reason people can act on."""


@dataclass(frozen=True, slots=True)
class OrderTerms:
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: tuple[str, ...]
    amount_fen: int
    #: The amount would be larger if paid on a later day: the order ends with its local day.
    priced_for_the_day: bool = False


def new_out_trade_no(at: datetime, random: str | None = None) -> str:
    """``P`` + yymmddHHMMSS (Shanghai time) + 7 random base-32 characters: 20 characters."""
    suffix = random if random is not None else "".join(secrets.choice(_ALPHABET) for _ in range(7))
    return "P" + at.astimezone(SHANGHAI).strftime("%y%m%d%H%M%S") + suffix


def order_expiry(
    created_at: datetime, ttl: timedelta, day_ends_at: datetime | None = None
) -> datetime:
    """``created_at + ttl``, but no later than ``day_ends_at`` (the end of the local day an
    order whose amount grows overnight was priced for)."""
    if ttl <= timedelta(0) or ttl > timedelta(hours=24):
        raise OrderError("an order lives between one second and 24 hours")
    expiry = created_at + ttl
    return expiry if day_ends_at is None else min(expiry, day_ends_at)


def terms_for_invoices(
    invoice_ids: Sequence[str], invoices: Mapping[str, OpenInvoice], unit_id: str, day: date
) -> OrderTerms:
    """The order for named invoices on the community's ``day``: every one open and of the
    same household, in any combination (a utilities invoice alone, a newer invoice before an
    older one: arrears never block paying something else). The amount is what they owe that
    day, fixed now."""
    if not invoice_ids:
        raise OrderError("name at least one invoice, or give an amount on account")
    if len(set(invoice_ids)) != len(invoice_ids):
        raise OrderError("an invoice is named twice")
    chosen = []
    for invoice_id in invoice_ids:
        invoice = invoices.get(invoice_id)
        if invoice is None:
            raise OrderError(f"invoice {invoice_id} is not known (not issued, or another unit's)")
        if invoice.unit_id != unit_id:
            raise OrderError(f"invoice {invoice_id} belongs to another unit")
        if invoice.state != "open":
            raise OrderError(
                f"invoice {invoice_id} is {invoice.state.replace('_', ' ')}: nothing to pay"
            )
        chosen.append(invoice)
    payers = {i.payer_party_id for i in chosen}
    if len(payers) > 1:
        raise OrderError("the invoices have different payers; pay them separately")
    amount = sum(amount_owed(i, day) for i in chosen)
    if amount <= 0:
        raise OrderError("nothing is owed on the named invoices")
    first = chosen[0]
    return OrderTerms(
        community_id=first.community_id,
        unit_id=unit_id,
        payer_party_id=first.payer_party_id,
        invoice_ids=tuple(invoice_ids),
        amount_fen=amount,
        priced_for_the_day=any(grows_overnight(i, day) for i in chosen),
    )


def terms_on_account(
    community_id: str, unit_id: str, payer_party_id: str, amount_fen: int
) -> OrderTerms:
    """An amount paid on account (prepayment, part payment) for the household."""
    if amount_fen <= 0:
        raise OrderError("the amount on account must be positive")
    return OrderTerms(community_id, unit_id, payer_party_id, (), amount_fen)
