"""Counter payments (cash, bank card, POS at the door): recorded once per Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import asyncpg

from payments.domain.orders import SHANGHAI
from payments.domain.receipts import receipt_number
from payments.errors import IdempotencyConflict
from payments.service_layer import access, communities, orders
from propfee import audit
from propfee.auth import Principal, mask_personal
from propfee.business_time import business_instant
from propfee.events import PaymentReceived
from propfee.outbox import add_event
from propfee.problems import NotFound


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
    #: The signed-in staff member's id (the token's subject): whose day (日清日结 per cashier)
    #: the payment counts in. Not part of the request's identity either.
    recorded_by: str | None = None
    #: The paid_at the request named (None: "now"): what a replay repeats, so it is what the
    #: request hash covers (a replay without paid_at is the same request a second later).
    requested_paid_at: datetime | None = None

    def request_hash(self) -> str:
        data = asdict(self)
        data.pop("received_at")
        data.pop("cashier")
        data.pop("recorded_by")
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
        "UPDATE payments SET receipt_no = $2, received_by = $3, recorded_by = $4 "
        "WHERE payment_id = $1",
        payment_id,
        receipt_no,
        p.received_by,
        p.recorded_by,
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


PAYMENT_COLUMNS = (
    "payment_id, community_id, unit_id, payer_party_id, invoice_ids, amount_fen, currency, "
    "channel, gateway, gateway_transaction_id, out_trade_no, paid_at, received_at, recorded_at, "
    "receipt_no, received_by, order_id"
)


async def payment_record(conn: Any, payment_id: str) -> dict[str, Any]:
    """A payment as the API shows it (no dedup key, no request hash)."""
    row = await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1", payment_id
    )
    if row is None:
        raise NotFound(f"payment {payment_id} not found")
    return dict(row)


async def visible_payment(pool: Any, principal: Principal, payment_id: str) -> dict[str, Any]:
    """The payment (personal ids masked for the caller) when the caller may see it; 404."""
    row = await access.payment(pool, principal, payment_id)
    return mask_personal(principal, {k: row[k] for k in PAYMENT_COLUMNS.split(", ")})


async def visible_receipt(pool: Any, principal: Principal, receipt_no: str) -> dict[str, Any]:
    """The counter payment a printed receipt number names, when the caller may see it."""
    payment_id = await access.receipt(pool, principal, receipt_no)
    return await visible_payment(pool, principal, payment_id)


@dataclass(frozen=True)
class CounterRequest:
    community_id: str
    unit_id: str
    payer_party_id: str
    invoice_ids: list[str]
    amount_fen: int
    channel: str
    received_by: str | None
    paid_at: datetime | None  # as the request named it (None: now)


def cashier_of(principal: Principal) -> str:
    """The signed-in staff member as the receipt names the cashier: the token's ``name``
    claim where the identity provider sends one, else its subject (the staff id)."""
    name = principal.claims.get("name")
    return name if isinstance(name, str) and name.strip() else principal.subject


async def take_counter_payment(
    pool: Any, principal: Principal, request: CounterRequest, idempotency_key: str, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Record a payment taken at the counter (the community within the caller's scope, the
    business time within the company's back-dating window, money on account within the
    advance-collection cap); audited (``payment.counter_recorded``) the first time. Returns
    the payment (masked for the caller) and whether this call recorded it (a replay of the
    same Idempotency-Key returns the first)."""
    async with pool.acquire() as conn, conn.transaction():
        company = await access.community(conn, principal, request.community_id)
        paid_at = business_instant(
            principal,
            request.paid_at,
            now,
            field="paid_at",
            backdate_days=await communities.backdate_days(conn, request.community_id),
        )
        if not request.invoice_ids and not await already_recorded(conn, idempotency_key):
            # money on account: within the advance-collection cap (OrderError, 422)
            await orders.check_advance(
                conn, request.community_id, request.unit_id, request.amount_fen, paid_at
            )
        payment = CounterPayment(
            idempotency_key=idempotency_key,
            community_id=request.community_id,
            unit_id=request.unit_id,
            payer_party_id=request.payer_party_id,
            invoice_ids=request.invoice_ids,
            amount_fen=request.amount_fen,
            channel=request.channel,
            paid_at=paid_at,
            received_at=paid_at,
            received_by=request.received_by,
            cashier=cashier_of(principal),
            recorded_by=principal.subject,
            requested_paid_at=request.paid_at,
        )
        payment_id, created = await record_counter_payment(conn, payment)
        view = await payment_record(conn, payment_id)
        if created:
            await audit.record(
                conn,
                principal,
                "payment.counter_recorded",
                "payment",
                payment_id,
                community_id=request.community_id,
                unit_id=request.unit_id,
                after=view,
                company_id=company,
            )
    return mask_personal(principal, view), created
