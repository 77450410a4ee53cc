"""Counter payments (cash, bank card, POS at the door): recorded once per Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from payments.domain.orders import SHANGHAI
from payments.domain.receipts import receipt_number
from propfee.events import PaymentReceived
from propfee.outbox import add_event


class IdempotencyConflict(ValueError):
    """The same Idempotency-Key was used for a different payment."""


@dataclass(frozen=True)
class CounterPayment:
    idempotency_key: str
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: list[str]
    amount_fen: int
    channel: str
    paid_at: datetime
    received_at: datetime
    received_by: str | None = None
    #: Who took the money: the staff member signed in at the counter (their name, else their
    #: id), printed on the receipt as the cashier (收款人). Not part of the request's identity:
    #: a colleague retrying the same Idempotency-Key records the same payment.
    cashier: str | None = None
    #: The paid_at the request named (None: "now"): what a replay repeats, so it is what the
    #: request hash covers (a replay without paid_at is the same request a second later).
    requested_paid_at: datetime | None = None

    def request_hash(self) -> str:
        data = asdict(self)
        data.pop("received_at")
        data.pop("cashier")
        data["paid_at"] = data.pop("requested_paid_at")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


async def already_recorded(conn: asyncpg.Connection, idempotency_key: str) -> bool:
    """A replay of a recorded counter payment (checked again when recording)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM payments WHERE dedup_key = $1)",
        f"counter:{idempotency_key}",
    )
    return found


async def record_counter_payment(conn: asyncpg.Connection, p: CounterPayment) -> tuple[str, bool]:
    """Record the payment and publish PaymentReceived in one transaction.

    A replay with the same Idempotency-Key returns the first payment."""
    payment_id = f"pay-{uuid.uuid4()}"
    request_hash = p.request_hash()
    inserted = await conn.fetchval(
        "INSERT INTO payments (payment_id, dedup_key, community_id, unit_id, payer_party_id, "
        "invoice_ids, amount_fen, channel, gateway, paid_at, received_at, request_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'counter', $9, $10, $11) "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING true",
        payment_id,
        f"counter:{p.idempotency_key}",
        p.community_id,
        p.unit_id,
        p.payer_party_id,
        p.invoice_ids,
        p.amount_fen,
        p.channel,
        p.paid_at,
        p.received_at,
        request_hash,
    )
    if not inserted:
        row = await conn.fetchrow(
            "SELECT payment_id, request_hash FROM payments WHERE dedup_key = $1",
            f"counter:{p.idempotency_key}",
        )
        assert row is not None
        if row["request_hash"] != request_hash:
            raise IdempotencyConflict(
                "Idempotency-Key was already used for a different payment; use a new key"
            )
        return row["payment_id"], False
    receipt_no = await next_receipt_no(conn, p.community_id, p.paid_at)
    await conn.execute(
        "UPDATE payments SET receipt_no = $2, received_by = $3 WHERE payment_id = $1",
        payment_id,
        receipt_no,
        p.received_by,
    )
    event = PaymentReceived(
        payment_id=payment_id,
        community_id=p.community_id,
        unit_id=p.unit_id,
        payer_party_id=p.payer_party_id,
        invoice_ids=p.invoice_ids,
        amount_fen=p.amount_fen,
        channel=p.channel,
        gateway="counter",
        paid_at=p.paid_at,
        received_at=p.received_at,
        cashier=p.cashier,
    )
    await add_event(conn, event, key=p.unit_id, subject=payment_id, time=p.received_at)
    return payment_id, True


async def next_receipt_no(conn: asyncpg.Connection, community_id: str, at: datetime) -> str:
    """The next receipt number of the community's day (gap-free: same transaction)."""
    day = at.astimezone(SHANGHAI).date()
    seq = await conn.fetchval(
        "INSERT INTO receipt_sequences (community_id, business_date, last_no) VALUES ($1, $2, 1) "
        "ON CONFLICT (community_id, business_date) "
        "DO UPDATE SET last_no = receipt_sequences.last_no + 1 RETURNING last_no",
        community_id,
        day,
    )
    return receipt_number(community_id, day, seq)
