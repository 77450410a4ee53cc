"""The sweep's bookkeeping statements over ``sweep_cases``: red cases' named owners, kept and
broken promises, missed installment parts, limitation alerts and the day's tier snapshot."""

from dunning.adapters.sweep_sql import in_sweep_scope

RED_OWNERS = """
UPDATE arrears_cases c SET owner_staff_id = coalesce(c.assigned_to, s.red_case_owner)
FROM sweep_cases s
WHERE c.case_id = s.case_id AND s.tier = 'red' AND c.owner_staff_id IS NULL
  AND coalesce(c.assigned_to, s.red_case_owner) IS NOT NULL
"""

RED_UNOWNED_TASKS = """
INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, reason, source,
                   due_on, created_at)
SELECT 'task-' || gen_random_uuid(), 'assign_owner|' || s.case_id, s.case_id, s.community_id,
       s.unit_id, 'assign_owner', 'red case needs a named owner (one household, one plan)',
       'sweep', s.local_date + 3, sweep_as_of()
FROM sweep_cases s JOIN arrears_cases c USING (case_id)
WHERE s.tier = 'red' AND c.owner_staff_id IS NULL
ON CONFLICT (dedup_key) DO NOTHING
"""

#: Issue 18 rule 8: a promise is judged on the money it promised, not on the balance. The
#: payments dunning saw from the case's payer (``payments_seen``, less their refunds; rule 7:
#: after a sale the buyer's payments are not the seller's; a payment seen before its payer was
#: recorded, migration 0014, counts for the household as before) made from
#: when the promise was made (``made_at``) to the end of its date plus the policy's grace
#: (local time) are what was paid on it: at least the promised amount and it is kept
#: (whatever else is owed, a newer bill not yet due included); less, once the grace has
#: passed, it is broken.
PROMISE_PAID = """
CREATE TEMP TABLE sweep_promises ON COMMIT DROP AS
SELECT p.promise_id, p.case_id, p.staff_id, p.amount_fen,
       p.promised_date + s.promise_grace_days < s.local_date AS overdue,
       coalesce((
           SELECT sum(ps.amount_fen - coalesce((
                      SELECT sum(rf.amount_fen) FROM refunds_seen rf
                      WHERE rf.payment_id = ps.payment_id AND rf.refunded_at <= sweep_as_of()), 0))
           FROM payments_seen ps
           WHERE ps.unit_id = s.unit_id AND ps.paid_at >= p.made_at
             AND (ps.payer_party_id = s.payer_party_id OR ps.payer_party_id IS NULL)
             AND ps.paid_at <= sweep_as_of()
             AND ps.paid_at < ((p.promised_date + s.promise_grace_days + 1)::timestamp
                               AT TIME ZONE s.time_zone)
       ), 0)::bigint AS paid_fen
FROM promises p JOIN sweep_cases s USING (case_id)
WHERE p.status = 'open'
"""

KEPT_PROMISES = """
UPDATE promises p SET status = 'kept', closed_at = sweep_as_of()
FROM sweep_promises sp
WHERE p.promise_id = sp.promise_id AND p.status = 'open' AND sp.paid_fen >= sp.amount_fen
"""

BROKEN_PROMISES = """
WITH broken AS (
    UPDATE promises p SET status = 'broken', closed_at = sweep_as_of()
    FROM sweep_promises sp
    WHERE p.promise_id = sp.promise_id AND p.status = 'open' AND sp.overdue
      AND sp.paid_fen < sp.amount_fen
    RETURNING p.promise_id, p.case_id, p.staff_id
)
INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, reason, source,
                   assignee, due_on, created_at)
SELECT 'task-' || gen_random_uuid(), 'promise|' || b.promise_id, b.case_id, s.community_id,
       s.unit_id, 'promise_follow_up', 'promised amount not paid by the promised date',
       'promise', coalesce(s.owner_staff_id, s.assigned_to, b.staff_id), s.local_date + 2,
       sweep_as_of()
FROM broken b JOIN sweep_cases s USING (case_id)
ON CONFLICT (dedup_key) DO NOTHING
"""

#: Issue 18 rule 8: a plan part is missed only on payments made after the plan started. The
#: plan's total is the principal its invoices still owed when it was made (billing's
#: ``create_plan``); what they owe now is less exactly by what was paid on them since, so
#: ``total_fen - principal still owed`` is the money paid on the plan (money paid before it,
#: already out of its total, never counts twice). A plan is judged only once dunning knows
#: every one of its invoices and while the household has an open case in the sweep; a part is
#: missed when the parts due by more than the grace (3 days, counted in the local date of the
#: case's policy time zone) exceed what was paid.
MISSED_PLANS = f"""
WITH paid AS (
    SELECT p.plan_id,
           greatest(p.total_fen - sum(CASE WHEN r.settled THEN 0
                                           ELSE coalesce(r.principal_outstanding_fen, r.total_fen)
                                      END), 0) AS paid_fen,
           (SELECT min(s.local_date) FROM sweep_cases s WHERE s.unit_id = p.unit_id) AS local_date
    FROM installment_plans p JOIN receivables r ON r.invoice_id = ANY (p.invoice_ids)
    WHERE p.status = 'active' AND {in_sweep_scope("p.community_id")}
      -- The item's households only (a plan without an open case in the sweep is not judged).
      AND p.unit_id IN (SELECT unit_id FROM sweep_cases)
    GROUP BY p.plan_id
    HAVING count(r.invoice_id) = cardinality(p.invoice_ids)
), missed AS (
    UPDATE installment_plans p SET status = 'missed'
    FROM paid
    WHERE p.plan_id = paid.plan_id AND p.status = 'active'
      AND (SELECT coalesce(sum(ip.amount_fen), 0) FROM installment_parts ip
           WHERE ip.plan_id = p.plan_id
             AND ip.due_date + 3 < paid.local_date)
          > paid.paid_fen
    RETURNING p.plan_id
)
UPDATE pauses ps SET resolved_at = sweep_as_of(), resolution = 'installment missed'
FROM missed, arrears_cases c
WHERE ps.plan_id = missed.plan_id AND ps.resolved_at IS NULL AND c.case_id = ps.case_id
RETURNING ps.pause_id, ps.case_id, c.community_id, c.unit_id
"""

LIMITATION_ALERTS = """
INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, reason, source,
                   assignee, due_on, created_at)
SELECT 'task-' || gen_random_uuid(),
       'limitation|' || r.invoice_id || '|' || r.limitation_expires_on, s.case_id,
       s.community_id, s.unit_id, 'limitation_alert',
       'limitation period of ' || r.invoice_id || ' ends on ' || r.limitation_expires_on,
       'limitation', coalesce(s.owner_staff_id, s.assigned_to), r.limitation_expires_on,
       sweep_as_of()
FROM sweep_cases s JOIN receivables r ON r.unit_id = s.unit_id
     AND r.payer_party_id = s.payer_party_id
WHERE r.issued AND NOT r.settled AND r.limitation_expires_on IS NOT NULL
  AND dunning_limitation_state(r.limitation_expires_on, s.local_date) = 'alert'
ON CONFLICT (dedup_key) DO NOTHING
"""

#: The day's tier snapshot of the item's cases: per item (summed over a sweep's items when its
#: last item is done, ``SNAPSHOT``).
ITEM_TIERS = """
SELECT local_date, community_id, tier, count(*)::int AS cases,
       sum(outstanding_fen)::bigint AS outstanding_fen
FROM sweep_cases WHERE outstanding_fen > 0
GROUP BY local_date, community_id, tier
"""

#: The sweep's snapshot: its items' tiers (``result->'tiers'``) summed ($1: the sweep).
SNAPSHOT = """
INSERT INTO tier_snapshots (as_of_date, community_id, tier, cases, outstanding_fen)
SELECT t.local_date, t.community_id, t.tier, sum(t.cases), sum(t.outstanding_fen)
FROM sweep_items i
CROSS JOIN LATERAL jsonb_to_recordset(i.result -> 'tiers')
    AS t(local_date date, community_id text, tier text, cases integer, outstanding_fen bigint)
WHERE i.sweep_id = $1 AND i.state = 'done'
GROUP BY t.local_date, t.community_id, t.tier
ON CONFLICT (as_of_date, community_id, tier) DO UPDATE
SET cases = EXCLUDED.cases, outstanding_fen = EXCLUDED.outstanding_fen
"""
