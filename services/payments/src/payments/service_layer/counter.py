"""Counter payments (cash, bank card, POS at the door): recorded once per Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

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

    def request_hash(self) -> str:
        data = asdict(self)
        data.pop("received_at")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


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
    )
    await add_event(conn, event, key=p.unit_id, subject=payment_id, time=p.received_at)
    return payment_id, True
