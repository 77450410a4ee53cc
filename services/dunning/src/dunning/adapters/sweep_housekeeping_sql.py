"""The sweep's bookkeeping statements over ``sweep_cases``: red cases' named owners, broken
promises, missed installment parts, limitation alerts and the day's tier snapshot."""

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

BROKEN_PROMISES = """
WITH broken AS (
    UPDATE promises p SET status = 'broken', closed_at = sweep_as_of()
    FROM sweep_cases s
    WHERE p.case_id = s.case_id AND p.status = 'open' AND s.outstanding_fen > 0
      AND p.promised_date + s.promise_grace_days < s.local_date
    RETURNING p.promise_id, p.case_id, p.staff_id
)
INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, reason, source,
                   assignee, due_on, created_at)
SELECT 'task-' || gen_random_uuid(), 'promise|' || b.promise_id, b.case_id, s.community_id,
       s.unit_id, 'promise_follow_up', 'promised payment date passed unpaid', 'promise',
       coalesce(s.owner_staff_id, s.assigned_to, b.staff_id), s.local_date + 2, sweep_as_of()
FROM broken b JOIN sweep_cases s USING (case_id)
ON CONFLICT (dedup_key) DO NOTHING
"""

MISSED_PLANS = f"""
WITH paid AS (
    SELECT p.plan_id, sum(r.total_fen - coalesce(r.principal_outstanding_fen, r.total_fen))
               AS paid_fen
    FROM installment_plans p JOIN receivables r ON r.invoice_id = ANY (p.invoice_ids)
    WHERE p.status = 'active' AND {in_sweep_scope("p.community_id")} GROUP BY p.plan_id
), missed AS (
    UPDATE installment_plans p SET status = 'missed'
    FROM paid
    WHERE p.plan_id = paid.plan_id AND p.status = 'active'
      AND (SELECT coalesce(sum(ip.amount_fen), 0) FROM installment_parts ip
           WHERE ip.plan_id = p.plan_id
             AND ip.due_date + 3 < (sweep_as_of() AT TIME ZONE 'Asia/Shanghai')::date)
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
  AND s.local_date >= (r.limitation_expires_on - interval '6 months')::date
  AND s.local_date <= r.limitation_expires_on
ON CONFLICT (dedup_key) DO NOTHING
"""

SNAPSHOT = """
INSERT INTO tier_snapshots (as_of_date, community_id, tier, cases, outstanding_fen)
SELECT local_date, community_id, tier, count(*), sum(outstanding_fen)
FROM sweep_cases WHERE outstanding_fen > 0
GROUP BY local_date, community_id, tier
ON CONFLICT (as_of_date, community_id, tier) DO UPDATE
SET cases = EXCLUDED.cases, outstanding_fen = EXCLUDED.outstanding_fen
"""
