"""Issue 19 with issue 18 rule 7: the owner's copy of a tenant's escalation claims only the
invoices the owner is liable for (their lines), and states a part payment only when those are
the very invoices of the tenant's escalation."""

from __future__ import annotations

from datetime import date

from dunning.service_layer.joint import owner_payload

ORIGINAL = {
    "case_id": "case-1", "stage": "legal_demand", "payer_party_id": "p-tenant",
    "oldest_due_date": "2025-10-31", "days_overdue": 100, "outstanding_fen": 60_000,
    "invoice_ids": ["inv-1", "inv-2"], "paid_fen": 5_000,
    "statement": [
        {"invoice_id": "inv-1", "due_date": "2025-10-31", "principal_fen": 25_000},
        {"invoice_id": "inv-2", "due_date": "2025-11-30", "principal_fen": 35_000},
    ],
}  # fmt: skip


def _copy(invoice_ids: list[str], oldest: date, fen: int) -> dict[str, object]:
    return {
        "payer_party_id": "p-owner", "invoice_ids": invoice_ids, "outstanding_fen": fen,
        "oldest_due_date": oldest, "actions": [{"kind": "message", "channel": "letter"}],
    }  # fmt: skip


def test_the_owner_of_part_of_the_months_is_claimed_for_their_lines_only() -> None:
    payload = owner_payload(ORIGINAL, _copy(["inv-2"], date(2025, 11, 30), 35_000))  # type: ignore[arg-type]
    assert [x["invoice_id"] for x in payload["statement"]] == ["inv-2"]
    assert payload["paid_fen"] is None and payload["jointly_liable_for"] == "p-tenant"


def test_the_owner_of_every_month_is_claimed_for_every_line_and_the_part_payment() -> None:
    payload = owner_payload(ORIGINAL, _copy(["inv-1", "inv-2"], date(2025, 10, 31), 60_000))  # type: ignore[arg-type]
    assert payload["statement"] == ORIGINAL["statement"] and payload["paid_fen"] == 5_000
