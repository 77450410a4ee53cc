"""Issue 18 rule 7, joint liability: from the policy's ``joint_liability_from_stage`` on, each
escalation of a case whose payer is a tenant is also addressed to the owner jointly liable
for its invoices (``receivables.liable_party_ids``, from billing's InvoiceIssued: the payer
first, then the owner). The owner's copy is an escalation row of its own (same case, stage
and cycle; the owner as ``payer_party_id``), so it counts toward the owner's reminder cap and
the owner's delivery receipt restarts the clocks of the owner's invoices only. It carries the
stage's messages, not its tasks (staff work the case once), and names only the invoices the
owner is liable for (an owner sold during the tenancy answers for their own months).

``copies(scope, where)``: ``scope`` binds ``k(case_id, policy_id)`` (the cases and the
policy each follows), ``where`` picks the escalations ``e`` just made.
"""

from dunning.adapters.sweep_sql import LATE_FEE, PRINCIPAL


def copies(scope: str, where: str) -> str:
    return f"""
INSERT INTO escalations (case_id, stage, cycle, previous_stage, community_id, unit_id,
    payer_party_id, tier, outstanding_fen, oldest_due_date, invoice_ids, actions, reminder,
    deadline, staff_id, escalated_at)
SELECT e.case_id, e.stage, e.cycle, e.previous_stage, e.community_id, e.unit_id, o.party_id,
       e.tier,
       CASE WHEN o.n = cardinality(e.invoice_ids) THEN e.outstanding_fen ELSE o.fen END,
       CASE WHEN o.n = cardinality(e.invoice_ids) THEN e.oldest_due_date ELSE o.oldest END,
       o.invoice_ids, m.actions, e.reminder, e.deadline, e.staff_id, e.escalated_at
FROM {scope}
JOIN escalations e ON e.case_id = k.case_id
JOIN arrears_cases c ON c.case_id = e.case_id AND c.payer_party_id = e.payer_party_id
JOIN policies p ON p.policy_id = k.policy_id
JOIN policy_stages js ON js.policy_id = p.policy_id
     AND js.code = p.document ->> 'joint_liability_from_stage'
CROSS JOIN LATERAL (
    SELECT jsonb_agg(a.value) AS actions FROM jsonb_array_elements(e.actions) a
    WHERE a.value ->> 'kind' = 'message'
) m
CROSS JOIN LATERAL (
    SELECT l.party_id, count(*) AS n,
           array_agg(r.invoice_id ORDER BY r.due_date, r.invoice_id) AS invoice_ids,
           sum({PRINCIPAL} + {LATE_FEE})::bigint AS fen, min(r.due_date) AS oldest
    FROM receivables r CROSS JOIN LATERAL unnest(r.liable_party_ids) AS l(party_id)
    WHERE r.invoice_id = ANY (e.invoice_ids) AND l.party_id <> e.payer_party_id
    GROUP BY l.party_id
) o
WHERE {where} AND c.stage_index >= js.idx AND m.actions IS NOT NULL
ON CONFLICT DO NOTHING
RETURNING case_id, stage, payer_party_id, invoice_ids, outstanding_fen, oldest_due_date, actions
"""


#: A sweep item's: the escalations it just made (this as-of instant) of the cases ``$1``
#: (only those: probed by case, not every escalation of the instant, other items' included).
SWEEP_COPIES = copies(
    # A join on the unnested ids (hashed), not ``= ANY ($1)``: that compares every case of
    # the item with every id escalated, quadratic in the item's size (issue 22: 5 s an item
    # of 50,000 cases).
    "(SELECT s.case_id, s.policy_id FROM sweep_cases s "
    "JOIN unnest($1::text[]) AS made(case_id) USING (case_id)) k",
    "e.escalated_at = sweep_as_of()",
)
#: A manual advance's: $1 the case, $2 its policy, $3 the instant of the escalation.
CASE_COPIES = copies("(SELECT $1::text AS case_id, $2::text AS policy_id) k", "e.escalated_at = $3")
