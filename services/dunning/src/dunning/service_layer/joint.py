"""The owner's copies of a tenant's escalations (issue 18 rule 7, joint liability): stored by
``adapters.joint_liability_sql`` (the one home of who is added and when), published here as
ArrearsEscalated addressed to the owner (``jointly_liable_for``: the case's payer)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import asyncpg


def owner_payload(original: dict[str, Any], copy: asyncpg.Record) -> dict[str, Any]:
    """The escalation event ``original`` (JSON-ready) as addressed to the jointly liable party
    of ``copy`` (a row the copies statement returned)."""
    oldest: date = copy["oldest_due_date"]
    shift = (oldest - date.fromisoformat(str(original["oldest_due_date"]))).days
    actions = copy["actions"]
    invoice_ids = list(copy["invoice_ids"])
    same = sorted(invoice_ids) == sorted(original.get("invoice_ids") or [])
    statement = original.get("statement")
    return {
        **original,
        # Only the lines of the invoices the party is liable for; what was paid toward them
        # is known only when they are the payer's very invoices.
        "statement": None
        if statement is None
        else [line for line in statement if line["invoice_id"] in invoice_ids],
        "paid_fen": original.get("paid_fen") if same else None,
        "payer_party_id": copy["payer_party_id"],
        "jointly_liable_for": original["payer_party_id"],
        "invoice_ids": invoice_ids,
        "outstanding_fen": copy["outstanding_fen"],
        "oldest_due_date": oldest.isoformat(),
        "days_overdue": original["days_overdue"] - shift,
        "actions": json.loads(actions) if isinstance(actions, str) else actions,
    }


def owner_payloads(
    originals: Iterable[tuple[str, str, dict[str, Any]]], copies: Iterable[asyncpg.Record]
) -> list[dict[str, Any]]:
    """``originals``: (case_id, stage, payload) of the escalations just published; one payload
    per copy, in the order of ``copies``."""
    by_key = {(case_id, stage): payload for case_id, stage, payload in originals}
    return [owner_payload(by_key[(c["case_id"], c["stage"])], c) for c in copies]
