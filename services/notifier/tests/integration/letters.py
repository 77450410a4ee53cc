"""What the letter tests share: a dunning escalation that asks for a friendly letter, and a
PDF's text without its spacing (pypdf)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from pypdf import PdfReader

from propfee.events import ArrearsEscalated, EscalationAction
from propfee.events.dunning import ClaimLine

MORNING = datetime(2026, 3, 30, 2, tzinfo=UTC)  # 10:00 in Shanghai


def letter_escalation(case_id: str, party_id: str, room_label: str) -> ArrearsEscalated:
    """Case ``case_id`` (unit ``u-<case_id>`` of community ``c-1``) escalated to the friendly
    letter for one unpaid December invoice of 300 yuan."""
    line = ClaimLine(
        invoice_id=f"inv-{case_id}", period_start=date(2025, 12, 1),
        period_end=date(2025, 12, 31), due_date=date(2025, 12, 31), principal_fen=30_000,
        late_fee_fen=0,
    )  # fmt: skip
    return ArrearsEscalated(
        case_id=case_id, community_id="c-1", unit_id=f"u-{case_id}", payer_party_id=party_id,
        stage="friendly_letter", previous_stage="home_visit", tier="yellow",
        outstanding_fen=30_000, oldest_due_date=line.due_date, days_overdue=89,
        invoice_ids=[line.invoice_id], escalated_at=MORNING,
        actions=[EscalationAction(kind="message", channel="letter")],
        room_label=room_label, statement=[line],
    )  # fmt: skip


def pdf_text(pdf: bytes) -> str:
    return "".join(
        "".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages
    )
