"""Helpers: a migrated dunning database, events fed through the real handlers, clocks."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from dunning.entrypoints.events import HANDLERS
from propfee.cloudevents import CloudEvent
from propfee.consumer import EventContext
from propfee.events import (
    ArrearsEscalated,
    CommunityUpdated,
    Event,
    InvoiceIssued,
    InvoiceLine,
    InvoiceSettled,
    NotificationDelivered,
    PaymentReceived,
)

SH = ZoneInfo("Asia/Shanghai")
#: The company of the test communities (tests.support.auth.TEST_COMPANY: staff tokens' company).
COMPANY = "co-1"


def at(text: str) -> datetime:
    """'2026-02-08 10:00' in Shanghai time."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


async def feed(pool: asyncpg.Pool, event: Event) -> None:
    """Run the real handler in a transaction, as the consumer does."""
    envelope = CloudEvent.new(
        type=event.ce_type(), source=event.ce_source(), subject="s", data=event.to_json(),
        time=datetime.now(UTC),
    )  # fmt: skip
    context = EventContext(envelope=envelope, topic=event.topic(), partition=0, offset=0)
    async with pool.acquire() as conn, conn.transaction():
        await HANDLERS[type(event)](conn, event, context)


def community(community_id: str = "c-1", company_id: str = COMPANY) -> CommunityUpdated:
    """billing.community-updated: how dunning learns a community's company (token scope)."""
    return CommunityUpdated(
        community_id=community_id, company_id=company_id, company_name=f"物业{company_id}",
        name=f"小区{community_id}", city="杭州", updated_at=datetime(2025, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def invoice(
    unit: str, due: date, total_fen: int = 27_580, community: str = "c-1", **kw: Any
) -> InvoiceIssued:
    return InvoiceIssued(
        invoice_id=kw.pop("invoice_id", f"inv-{uuid.uuid4().hex[:8]}"),
        community_id=community, building_id="b-1", unit_id=unit, payer_party_id=f"p-{unit}",
        period_start=due.replace(day=1), period_end=due, due_date=due,
        lines=[InvoiceLine(fee_item="property", description="物业费", quantity="1",
                           unit_price_fen=total_fen, amount_fen=total_fen)],
        total_fen=total_fen, issued_at=kw.pop("issued_at", datetime(2025, 1, 1, tzinfo=UTC)),
        room_label=f"3-2-{unit}", **kw,
    )  # fmt: skip


def payment(unit: str, received: datetime, amount_fen: int = 27_580) -> PaymentReceived:
    return PaymentReceived(
        payment_id=f"pay-{uuid.uuid4().hex[:8]}", community_id="c-1", unit_id=unit,
        payer_party_id=f"p-{unit}", amount_fen=amount_fen, channel="wechat_pay",
        paid_at=received, received_at=received,
    )  # fmt: skip


def settled(inv: InvoiceIssued, when: datetime, version: int = 2) -> InvoiceSettled:
    return InvoiceSettled(
        invoice_id=inv.invoice_id, community_id=inv.community_id, unit_id=inv.unit_id,
        payer_party_id=inv.payer_party_id, total_fen=inv.total_fen, paid_fen=inv.total_fen,
        settled_at=when, balance_version=version,
    )  # fmt: skip


def delivered(case_id: str, unit: str, stage: str, when: datetime) -> NotificationDelivered:
    return NotificationDelivered(
        notification_id=f"n-{uuid.uuid4().hex[:8]}", community_id="c-1", unit_id=unit,
        party_id=f"p-{unit}", channel="letter", message_type="reminder", subject_id=case_id,
        stage=stage, delivered_at=when, proof={"tracking_no": "EMS123", "carrier_status": "妥投"},
    )  # fmt: skip


async def case_of(pool: asyncpg.Pool, unit: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT * FROM arrears_cases WHERE unit_id = $1 ORDER BY opened_at DESC LIMIT 1", unit
    )
    assert row is not None
    return row


async def published(pool: asyncpg.Pool) -> list[ArrearsEscalated]:
    """ArrearsEscalated rows in the outbox, validated against the contract."""
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", ArrearsEscalated.topic()
    )
    return [ArrearsEscalated.model_validate_json(bytes(r["payload"])) for r in rows]
