"""Receipts as documents: what a download prints (counted: the first is the original) and what
the public verification answers. The rules of what the lines say live in
``domain/receipts.py``; this module loads the facts they need, in a few set-based reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain import receipts as rules
from billing.domain.receipts import Receipt, ReceiptLine


@dataclass(frozen=True, slots=True)
class Signing:
    """How verification codes are made and where they point (billing's settings)."""

    secret: bytes
    base_url: str


@dataclass(frozen=True, slots=True)
class Verified:
    """What anyone holding a receipt's code may learn: enough to match the paper, no name."""

    receipt_no: str
    company_name: str
    community_name: str
    room: str
    paid_on: date
    amount_fen: int
    refunded_fen: int


_RECEIPT = """
SELECT r.receipt_no, split_part(r.receipt_no, '/', 2) AS number, r.amount_fen, r.channel,
       r.paid_at, r.gateway_transaction_id, r.cashier, r.unit_id, r.verify_code,
       c.name AS community_name, c.time_zone, c.service_phone, co.name AS company_name,
       u.unit_key, p.name AS payer_name
  FROM receipts r
  JOIN communities c USING (community_id)
  JOIN companies co USING (company_id)
  JOIN units u USING (unit_id)
  LEFT JOIN parties p ON p.party_id = r.payer_party_id
 WHERE r.payment_id = $1
"""

#: What the payment put on each invoice (net of reversals), with what earlier payments had
#: put on the invoice's principal before it (a part payment prints the next part).
_PAID = """
WITH mine AS (
    SELECT unit_id, invoice_id, component, sum(amount_fen)::bigint AS amount_fen,
           min(seq) AS first_seq
      FROM allocations WHERE payment_id = $1
     GROUP BY unit_id, invoice_id, component HAVING sum(amount_fen) > 0
)
SELECT m.invoice_id, m.component, m.amount_fen, i.period_start, i.period_end,
       coalesce((SELECT sum(b.amount_fen) FROM allocations b
                  WHERE b.unit_id = m.unit_id AND b.invoice_id = m.invoice_id
                    AND b.component = 'principal' AND b.seq < m.first_seq
                    AND b.payment_id <> $1), 0)::bigint AS before_fen
  FROM mine m JOIN invoices i USING (invoice_id)
 ORDER BY i.period_start, i.period_end, i.invoice_id, m.component DESC
"""

#: Each line's fee item by its name in the invoice's schedule (a discount line, an opening
#: balance: its own description).
_LINES = """
SELECT l.invoice_id, l.amount_fen, coalesce(f.name, l.description) AS name
  FROM invoice_lines l
  JOIN invoices i USING (invoice_id)
  LEFT JOIN LATERAL (
      SELECT fi.name FROM fee_schedules s JOIN fee_items fi USING (schedule_id)
       WHERE s.community_id = i.community_id AND s.version = i.schedule_version
         AND fi.code = l.fee_item
       LIMIT 1) f ON true
 WHERE l.invoice_id = ANY($1::text[])
 ORDER BY l.invoice_id, l.line_no
"""


async def summary(conn: asyncpg.Connection, payment_id: str) -> dict[str, Any] | None:
    """The receipt's number and what it was for, as data (the JSON answer)."""
    row = await conn.fetchrow(
        "SELECT split_part(receipt_no, '/', 2) AS number, community_id, payment_id, unit_id, "
        "amount_fen, channel, paid_at FROM receipts WHERE payment_id = $1",
        payment_id,
    )
    return None if row is None else dict(row) | {"receipt_no": row["number"]}


async def download(conn: asyncpg.Connection, payment_id: str, signing: Signing) -> Receipt | None:
    """The receipt of a payment as printed now, counting this download (call it in the
    transaction that renders it: a failed render is not a copy). None: no receipt."""
    row = await conn.fetchrow(_RECEIPT, payment_id)
    if row is None:
        return None
    code = row["verify_code"] or rules.verification_code(signing.secret, row["receipt_no"])
    copy = await conn.fetchval(
        "UPDATE receipts SET downloads = downloads + 1, verify_code = $2 "
        "WHERE receipt_no = $1 RETURNING downloads",
        row["receipt_no"],
        code,
    )
    lines = await _lines(conn, payment_id, row["amount_fen"])
    zone = ZoneInfo(row["time_zone"])
    return Receipt(
        number=row["number"],
        company_name=row["company_name"],
        community_name=row["community_name"],
        room=rules.room_label(row["unit_key"]),
        payer_name=row["payer_name"],
        paid_at=row["paid_at"].astimezone(zone),
        channel=rules.CHANNELS.get(row["channel"], row["channel"]),
        transaction_id=row["gateway_transaction_id"],
        cashier=row["cashier"],
        lines=tuple(lines),
        amount_fen=row["amount_fen"],
        verify_url=rules.verify_url(signing.base_url, code),
        copy=copy,
        service_phone=row["service_phone"],
    )


async def _lines(conn: asyncpg.Connection, payment_id: str, amount_fen: int) -> list[ReceiptLine]:
    paid = await conn.fetch(_PAID, payment_id)
    invoice_lines: dict[str, list[tuple[str, int]]] = {}
    for line in await conn.fetch(_LINES, list({p["invoice_id"] for p in paid})):
        invoice_lines.setdefault(line["invoice_id"], []).append((line["name"], line["amount_fen"]))
    credit = await conn.fetchval(
        "SELECT coalesce(sum(credit_fen), 0)::bigint FROM account_credits WHERE payment_id = $1",
        payment_id,
    )
    facts = [
        rules.Paid(
            p["component"],
            rules.period_label(p["period_start"], p["period_end"]),
            p["amount_fen"],
            p["before_fen"],
            tuple(invoice_lines.get(p["invoice_id"], ())),
        )
        for p in paid
    ]
    return rules.receipt_lines(facts, credit, amount_fen)


async def verify(conn: asyncpg.Connection, code: str) -> Verified | None:
    """The receipt a verification code was printed on, or None (a mistyped or made-up code)."""
    row = await conn.fetchrow(
        "SELECT split_part(r.receipt_no, '/', 2) AS number, r.amount_fen, r.paid_at, "
        "c.name AS community_name, c.time_zone, co.name AS company_name, u.unit_key, "
        "coalesce((SELECT sum(f.amount_fen) FROM refunds_received f "
        "           WHERE f.payment_id = r.payment_id), 0)::bigint AS refunded_fen "
        "FROM receipts r JOIN communities c USING (community_id) "
        "JOIN companies co USING (company_id) JOIN units u USING (unit_id) "
        "WHERE r.verify_code = $1",
        code,
    )
    if row is None:
        return None
    return Verified(
        receipt_no=row["number"],
        company_name=row["company_name"],
        community_name=row["community_name"],
        room=rules.room_label(row["unit_key"]),
        paid_on=row["paid_at"].astimezone(ZoneInfo(row["time_zone"])).date(),
        amount_fen=row["amount_fen"],
        refunded_fen=row["refunded_fen"],
    )
