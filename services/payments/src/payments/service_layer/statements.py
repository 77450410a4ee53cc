"""What a household owes today, as an owner's link shows it, and the order that pays it.

One home for both owner-facing links: the printed static QR code (``/qr/{token}``) and the
pay link of a message (``/p/{token}``) show the same amounts and make the same orders. Each
open invoice owes its unpaid principal plus the late fee accrued to the day before
(``domain.owed``, the rule an order is priced by), on the community's local day; property
fees and utilities apart, time-barred invoices apart and out of the total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

import asyncpg
from pydantic import BaseModel, Field

from payments.domain.owed import OpenInvoice, amount_owed, late_fee_owed, local_day
from payments.errors import NothingOwed
from payments.service_layer import orders
from payments.service_layer.invoices import community_time_zone, open_invoices


class StatementLine(BaseModel):
    invoice_id: str
    collection: Literal["property", "utilities"]
    principal_fen: int
    late_fee_fen: int = Field(description="Accrued to the day before, less paid and waived")
    amount_fen: int = Field(description="What paying it today takes: principal + late fee")
    time_barred: bool


class StatementPart(BaseModel):
    invoices: list[StatementLine]
    total_fen: int


class OwedToday(BaseModel):
    """The household's open invoices priced for the community's local day."""

    as_of: date = Field(description="The community's local day the amounts are for")
    property: StatementPart = Field(description="Property fees (物业费)")
    utilities: StatementPart = Field(
        description="Water, power, heating collected for suppliers (水电暖代收): apart, payable "
        "alone whatever the property arrears"
    )
    time_barred: StatementPart = Field(
        description="Past their limitation date: not in the total, paid only when named"
    )
    invoices: list[StatementLine] = Field(description="Every open invoice, as in the parts")
    total_fen: int = Field(description="Property and utilities: what paying all takes today")
    currency: Literal["CNY"] = "CNY"


def _line(invoice: OpenInvoice, day: date) -> StatementLine:
    return StatementLine(
        invoice_id=invoice.invoice_id,
        collection=invoice.collection,
        principal_fen=invoice.principal_fen,
        late_fee_fen=late_fee_owed(invoice, day),
        amount_fen=amount_owed(invoice, day),
        time_barred=invoice.time_barred,
    )


async def _open_on(
    conn: asyncpg.Connection, unit_id: str, now: datetime, community_id: str | None = None
) -> tuple[date, list[OpenInvoice]]:
    """The unit's open invoices and the community's local day they are priced for (the
    invoices' community; ``community_id`` when there is none)."""
    invoices = list((await open_invoices(conn, unit_id)).values())
    community = invoices[0].community_id if invoices else community_id
    return local_day(now, await community_time_zone(conn, community)), invoices


async def owed_today(
    conn: asyncpg.Connection, unit_id: str, now: datetime, community_id: str | None = None
) -> OwedToday:
    """What the unit owes on the community's local day of ``now``, invoice by invoice
    (``community_id``: the unit's, when known, for the day of a household owing nothing)."""
    day, invoices = await _open_on(conn, unit_id, now, community_id)
    lines = [_line(i, day) for i in invoices]

    def part(keep: Callable[[StatementLine], bool]) -> StatementPart:
        chosen = [line for line in lines if keep(line)]
        return StatementPart(invoices=chosen, total_fen=sum(x.amount_fen for x in chosen))

    property_ = part(lambda x: x.collection == "property" and not x.time_barred)
    utilities = part(lambda x: x.collection == "utilities" and not x.time_barred)
    return OwedToday(
        as_of=day,
        property=property_,
        utilities=utilities,
        time_barred=part(lambda x: x.time_barred),
        invoices=lines,
        total_fen=property_.total_fen + utilities.total_fen,
    )


async def order_statement(
    conn: asyncpg.Connection,
    unit_id: str,
    *,
    channel: str,
    scene: str,
    invoice_ids: Sequence[str],
    collection: Literal["property", "utilities"] | None,
    now: datetime,
    ttl: timedelta,
) -> asyncpg.Record:
    """Inside a transaction: an order for the named invoices, or for every open invoice (of
    ``collection`` if given; time-barred ones only when named), for what each owes today.
    Raises :class:`NothingOwed`, or ``OrderError`` for an invoice that cannot be paid."""
    chosen = list(invoice_ids)
    if not chosen:
        _, invoices = await _open_on(conn, unit_id, now)
        chosen = [
            i.invoice_id
            for i in invoices
            if not i.time_barred and collection in (None, i.collection)
        ]
    if not chosen:
        raise NothingOwed()
    request = orders.OrderRequest(unit_id, channel, scene, chosen)
    return await orders.create_order(conn, request, now, ttl)
