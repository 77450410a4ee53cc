"""Letters and door notices (single documents and print batches) print what people typed
literally: names, addresses and message text never become links or image fetches."""

from __future__ import annotations

from notifier.adapters.base import Outbound
from notifier.adapters.letters_pdf import PrintedLetters, render_pdf
from tests.support.pdf import HOSTILE, inert_text

CONTEXT = {
    "company": HOSTILE,
    "community": "阳光花园",
    "company_address": HOSTILE,
    "contact": "0571-88886666",
    "recipient_address": HOSTILE,
    "room": "3-2-101",
    "message_type": "reminder",
    "statement": [(HOSTILE, "275.80")],
    "amount": "275.80",
    "deadline": "2026-04-30",
    "pay_link": "https://pay.example/qr/u-1",
}


def _flat(text: str) -> str:
    return "".join(text.split())  # the body wraps at 40 characters


def test_a_print_batch_prints_hostile_text_literally() -> None:
    letters = [
        {**CONTEXT, "body": f"尊敬的{HOSTILE}业主", "notification_id": f"n-{n}"} for n in (1, 2)
    ]
    text = inert_text(render_pdf(letters))
    assert text.count(HOSTILE) >= 6  # company, address, recipient, statement line: twice
    assert _flat(f"尊敬的{HOSTILE}业主") in _flat(text)


async def test_a_single_letter_prints_hostile_text_literally() -> None:
    message = Outbound(
        notification_id="n-1",
        channel="letter",
        address=HOSTILE,
        body=f"<font size=40>{HOSTILE}</font>",
        message_type="reminder",
        context={k: v for k, v in CONTEXT.items() if k != "recipient_address"},
    )
    result = await PrintedLetters().send(message)
    assert result.outcome == "printing" and result.document is not None
    text = inert_text(result.document)
    assert HOSTILE in text.splitlines()[0]  # the letterhead
    assert _flat(f"<font size=40>{HOSTILE}</font>") in _flat(text)
