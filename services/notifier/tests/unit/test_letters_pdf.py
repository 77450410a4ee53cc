"""Letters and door notices (single documents and print batches) print what people typed
literally: names, addresses and company details never become links or image fetches."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from notifier.adapters.base import Outbound
from notifier.adapters.letters_pdf import PrintedLetters, render_pdf
from notifier.service_layer.letter_context import letter_context
from tests.support.pdf import HOSTILE, inert_text

ROW = {
    "notification_id": "ntf-1", "message_type": "reminder", "stage": "formal_letter",
    "requested_at": datetime(2026, 4, 1, 2, tzinfo=UTC), "name": HOSTILE,
    "company_address": HOSTILE,
    "params": {"amount_fen": 27580, "oldest_due_date": "2026-03-31", "deadline": "2026-04-30"},
}  # fmt: skip
CONTEXT = {
    "company": HOSTILE, "community": "阳光花园", "contact": "0571-88886666", "room": HOSTILE,
    "pay_link": "https://pay.example/qr/u-1", "dispute_contact": "0571-88886666",
}  # fmt: skip
SH = ZoneInfo("Asia/Shanghai")


def _flat(text: str) -> str:
    return "".join(text.split())


def test_a_print_batch_prints_hostile_text_literally() -> None:
    letters = [
        letter_context({**ROW, "notification_id": f"ntf-{n}"}, CONTEXT, "letter", HOSTILE, SH)
        for n in (1, 2)
    ]
    text = inert_text(render_pdf(letters))
    # company, its address, the recipient, their address and room: in each letter
    assert _flat(text).count(_flat(HOSTILE)) >= 10


async def test_a_single_letter_prints_hostile_text_literally() -> None:
    message = Outbound(
        notification_id="ntf-1",
        channel="door_notice",
        address=HOSTILE,
        body=f"<font size=40>{HOSTILE}</font>",
        message_type="reminder",
        context=letter_context(ROW, CONTEXT, "door_notice", HOSTILE, SH),
    )
    result = await PrintedLetters().send(message)
    assert result.outcome == "printing" and result.document is not None
    text = inert_text(result.document)
    assert _flat(HOSTILE) in _flat(text.splitlines()[1])  # the sealed face names the room
