"""Everything on record about one case, for mediation or court (证据材料): the invoices,
payments, every reminder with its delivery proof, call and visit records, letters with
tracking numbers, promises, notes and pauses. What staff record carries both its business
time (``at``, ``sent_at``, ``made_at``, ...) and when it was recorded (``recorded_at``).
The invoices and delivery proof are the case's payer's only (issue 18 rule 7): another
party's invoices of the unit are in that party's case."""

from __future__ import annotations

from typing import Any

import asyncpg

SECTIONS: dict[str, str] = {
    "invoices": "SELECT invoice_id, due_date, total_fen, principal_outstanding_fen, "
    "late_fee_outstanding_fen, status, settled, settled_at, limitation_expires_on "
    "FROM receivables WHERE unit_id = $2 AND payer_party_id = $3 AND issued "
    "ORDER BY due_date, invoice_id",
    "payments": "SELECT payment_id, amount_fen, paid_at FROM payments_seen WHERE unit_id = $2 "
    "ORDER BY paid_at",
    "reminders": "SELECT stage, cycle, escalated_at, payer_party_id, tier, outstanding_fen, "
    "actions, deadline, invoice_ids FROM escalations WHERE case_id = $1 "
    "ORDER BY escalated_at, escalation_id",
    "delivery_proof": "SELECT notification_id, outcome, channel, message_type, stage, at, detail "
    "FROM contact_evidence WHERE subject_id = $1 "
    "OR (unit_id = $2 AND party_id = $3 AND message_type <> 'bill') "
    "ORDER BY at",
    "calls_and_visits": "SELECT outcome_id, kind, reason_code, note, staff_id, at, recorded_at "
    "FROM contact_outcomes WHERE case_id = $1 ORDER BY at",
    "letters": "SELECT letter_id, stage, carrier, tracking_no, sent_at, delivered_at, staff_id, "
    "recorded_at "
    "FROM letters WHERE case_id = $1 ORDER BY sent_at",
    "promises": "SELECT promise_id, amount_fen, promised_date, signed, status, staff_id, "
    "made_at, recorded_at FROM promises WHERE case_id = $1 ORDER BY made_at",
    "pauses": "SELECT pause_id, scope, invoice_id, reason, owner, starts_at, ends_at, "
    "resolved_at, resolution, recorded_at FROM pauses WHERE case_id = $1 ORDER BY starts_at",
    "notes": "SELECT staff_id, body, at, recorded_at FROM case_notes WHERE case_id = $1 "
    "ORDER BY at",
    "demands": "SELECT stage, deadline, issued_at FROM demands WHERE case_id = $1 "
    "ORDER BY issued_at",
}


async def gather(conn: asyncpg.Connection, case_id: str) -> dict[str, Any]:
    case = await conn.fetchrow(
        "SELECT case_id, unit_id, community_id, payer_party_id, room_label, status, stage, tier, "
        "outstanding_fen, oldest_due_date, opened_at, closed_at, owner_staff_id "
        "FROM arrears_cases WHERE case_id = $1",
        case_id,
    )
    if case is None:
        raise LookupError(f"case {case_id} not found")
    bundle: dict[str, Any] = {"case": dict(case)}
    for name, sql in SECTIONS.items():
        typed = (
            "WITH params AS (SELECT $1::text AS case_id, $2::text AS unit_id, "
            f"$3::text AS payer_party_id) {sql}"
        )
        rows = await conn.fetch(typed, case_id, case["unit_id"], case["payer_party_id"])
        bundle[name] = [dict(r) for r in rows]
    return bundle
