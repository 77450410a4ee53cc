"""Everything on record about one case, for mediation or court (证据材料): the invoices of the
case's payer (issue 18 rule 7: another party's invoices of the unit are in that party's case),
the debtor and whoever is jointly liable (kind, name, postal address, from billing's
PartyContactsUpdated), the payments of the case's payer (and those seen before the payer was
recorded), every reminder with its delivery proof, call and visit records, letters with
tracking numbers, promises, plans, notes and pauses, the limitation restarts, the creditor
(the community's company) and the policy's time zone. What staff record carries both its
business time (``at``, ``sent_at``, ``made_at``, ...) and when it was recorded
(``recorded_at``). ``adapters.evidence_document`` turns this into the document people read.

Rows of tables other rules of issue 18 are changing (letters, plans) are read whole
(``SELECT *``): the document shows what is present (a carrier status, a receipt reference)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from dunning.errors import NotFound
from dunning.service_layer import scope
from propfee import audit

#: Parameters: $1 the case, $2 its unit, $3 its liable party (the payer).
SECTIONS: dict[str, str] = {
    "invoices": "SELECT invoice_id, kind, period_start, period_end, due_date, schedule_version, "
    "total_fen, principal_outstanding_fen, late_fee_outstanding_fen, late_fee_basis, "
    "late_fee_as_of, status, "
    "settled, settled_at, limitation_expires_on, limitation_last_restart_on "
    "FROM receivables WHERE unit_id = $2 AND payer_party_id = $3 AND issued "
    "ORDER BY due_date, period_start, invoice_id",
    "payments": "SELECT payment_id, amount_fen, paid_at FROM payments_seen WHERE unit_id = $2 "
    "AND (payer_party_id = $3 OR payer_party_id IS NULL) ORDER BY paid_at",
    "reminders": "SELECT stage, cycle, escalated_at, payer_party_id, tier, outstanding_fen, "
    "actions, deadline, invoice_ids, staff_id FROM escalations WHERE case_id = $1 "
    "ORDER BY escalated_at, escalation_id",
    "delivery_proof": "SELECT notification_id, outcome, channel, message_type, stage, at, detail "
    "FROM contact_evidence WHERE subject_id = $1 "
    "OR (unit_id = $2 AND party_id = $3 AND message_type <> 'bill') "
    "ORDER BY at",
    "calls_and_visits": "SELECT outcome_id, kind, reason_code, note, staff_id, at, recorded_at "
    "FROM contact_outcomes WHERE case_id = $1 ORDER BY at",
    "letters": "SELECT * FROM letters WHERE case_id = $1 ORDER BY sent_at",
    "promises": "SELECT promise_id, amount_fen, promised_date, signed, status, staff_id, "
    "made_at, recorded_at, closed_at FROM promises WHERE case_id = $1 ORDER BY made_at",
    "plans": "SELECT p.*, (SELECT coalesce(jsonb_agg(jsonb_build_object('part_no', ip.part_no, "
    "'due_date', ip.due_date, 'amount_fen', ip.amount_fen) ORDER BY ip.part_no), '[]') "
    "FROM installment_parts ip WHERE ip.plan_id = p.plan_id) AS parts "
    "FROM installment_plans p WHERE p.unit_id = $2 AND p.payer_party_id = $3 "
    "ORDER BY p.created_at",
    "pauses": "SELECT pause_id, scope, invoice_id, reason, owner, note, starts_at, ends_at, "
    "resolved_at, resolution, recorded_at FROM pauses WHERE case_id = $1 ORDER BY starts_at",
    "notes": "SELECT staff_id, body, at, recorded_at FROM case_notes WHERE case_id = $1 "
    "ORDER BY at",
    "demands": "SELECT stage, deadline, issued_at FROM demands WHERE case_id = $1 "
    "ORDER BY issued_at",
    "limitation_restarts": "SELECT l.invoice_id, l.kind, l.on_date FROM limitation_restarts l "
    "JOIN receivables r USING (invoice_id) WHERE r.unit_id = $2 AND r.payer_party_id = $3 "
    "ORDER BY l.on_date, l.kind",
}

#: The debtor (the case's payer) as billing registered them (PartyContactsUpdated, table
#: ``parties``): kind, name, postal address.
DEBTOR = "SELECT kind, name, postal_address FROM parties WHERE party_id = $1"

#: Everyone else billing names liable on the case's invoices (``liable_party_ids``: the payer
#: first, then the owner jointly liable when a tenant pays), in that order; kind, name and
#: address NULL when dunning never learnt the party.
JOINTLY_LIABLE = """
SELECT l.party_id, p.kind, p.name, p.postal_address
FROM (SELECT l.party_id, min(l.pos) AS pos
      FROM receivables r
      CROSS JOIN LATERAL unnest(r.liable_party_ids) WITH ORDINALITY AS l(party_id, pos)
      WHERE r.unit_id = $1 AND r.payer_party_id = $2 AND r.issued AND l.party_id <> $2
      GROUP BY l.party_id) l
LEFT JOIN parties p USING (party_id)
ORDER BY l.pos, l.party_id
"""

#: The creditor and the time zone the case's policy reads dates in (as the sweep finds it).
CREDITOR = """
SELECT co.company_name, co.name AS community_name, co.address, co.contract_end,
       coalesce(p.time_zone, 'Asia/Shanghai') AS time_zone
FROM (SELECT $1::text AS community_id) c
LEFT JOIN communities co ON co.community_id = c.community_id
LEFT JOIN community_policies cp ON cp.community_id = c.community_id
LEFT JOIN policies p ON p.policy_id = coalesce(cp.policy_id,
    (SELECT policy_id FROM policies WHERE policy_id = 'company:' || co.company_id), 'default')
"""


async def gather(
    conn: asyncpg.Connection, case_id: str, as_of: datetime | None = None
) -> dict[str, Any]:
    """The bundle of ``case_id`` as of ``as_of`` (default: now): the instant the limitation
    states are read at."""
    case = await conn.fetchrow(
        "SELECT case_id, unit_id, community_id, payer_party_id, room_label, status, stage, tier, "
        "outstanding_fen, oldest_due_date, opened_at, closed_at, owner_staff_id "
        "FROM arrears_cases WHERE case_id = $1",
        case_id,
    )
    if case is None:
        raise LookupError(f"case {case_id} not found")
    creditor = await conn.fetchrow(CREDITOR, case["community_id"])
    debtor = await conn.fetchrow(DEBTOR, case["payer_party_id"])
    jointly = await conn.fetch(JOINTLY_LIABLE, case["unit_id"], case["payer_party_id"])
    bundle: dict[str, Any] = {
        "case": dict(case),
        "creditor": dict(creditor) if creditor else {},
        # Personal data (names, addresses): masked for roles that do not see contacts.
        "debtor": dict(debtor) if debtor else None,
        "jointly_liable": [dict(r) for r in jointly],
        "as_of": as_of or datetime.now(UTC),
    }
    for name, sql in SECTIONS.items():
        typed = (
            "WITH params AS (SELECT $1::text AS case_id, $2::text AS unit_id, "
            f"$3::text AS payer_party_id) {sql}"
        )
        rows = await conn.fetch(typed, case_id, case["unit_id"], case["payer_party_id"])
        bundle[name] = [dict(r) for r in rows]
    # Each period's limitation state on the local date of ``as_of``: the sweep's own rule
    # (``dunning_limitation_state``, migration 0012), not a copy.
    states = await conn.fetch(
        "SELECT i, dunning_limitation_state(e, ($3::timestamptz AT TIME ZONE $4)::date) AS s "
        "FROM unnest($1::text[], $2::date[]) AS x(i, e)",
        [i["invoice_id"] for i in bundle["invoices"]],
        [i["limitation_expires_on"] for i in bundle["invoices"]],
        bundle["as_of"],
        bundle["creditor"].get("time_zone") or "Asia/Shanghai",
    )
    state_of = {r["i"]: r["s"] for r in states}
    for invoice in bundle["invoices"]:
        invoice["limitation_state"] = state_of.get(invoice["invoice_id"])
    return bundle


async def for_reader(pool: Any, principal: Any, case_id: str) -> dict[str, Any]:
    """The bundle of a case the caller may see (404 otherwise)."""
    async with pool.acquire() as conn:
        await scope.case(conn, principal, case_id)
        try:
            return await gather(conn, case_id)
        except LookupError as exc:
            raise NotFound(str(exc)) from exc


async def export(pool: Any, principal: Any, case_id: str, kind: str) -> dict[str, Any]:
    """The bundle for a file export of personal data (``kind``: pdf, zip), audited in the
    same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        case = await scope.case(conn, principal, case_id)
        bundle = await gather(conn, case_id)
        await audit.record(
            conn, principal, "evidence.exported", "case", case_id,
            community_id=case["community_id"], unit_id=case["unit_id"],
            company_id=case["company_id"], after={"format": kind},
        )  # fmt: skip
    return bundle
