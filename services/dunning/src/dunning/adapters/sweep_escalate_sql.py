"""The sweep's escalating statements: move due cases a stage (with escalations, demands and
tasks) and the monthly reminder. Each returns the event payloads built in SQL, with what
each escalation claims (``claim_sql``: its lines and what was paid)."""

from dunning.adapters.claim_sql import SWEEP_CLAIM

_RFC3339 = """to_char(sweep_as_of() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

_PAYLOAD = f"""json_build_object(
    'case_id', i.case_id, 'community_id', i.community_id, 'unit_id', i.unit_id,
    'payer_party_id', i.payer_party_id, 'stage', i.stage, 'previous_stage', i.previous_stage,
    'tier', CASE i.tier WHEN 'current' THEN 'green' ELSE i.tier END,
    'outstanding_fen', i.outstanding_fen, 'currency', 'CNY',
    'oldest_due_date', i.oldest_due_date, 'days_overdue', s.local_date - i.oldest_due_date,
    'invoice_ids', i.invoice_ids, 'escalated_at', {_RFC3339}, 'actions', i.actions,
    'room_label', s.room_label, 'deadline', i.deadline, 'months_overdue', s.months,
    'owner_staff_id', i.staff_id, 'statement', cl.statement, 'paid_fen', cl.paid_fen
)::text"""

#: One reminder per person per occasion (issue 18 rule 12): the payer's reminder escalations of
#: one stage in one statement (one sweep instant) are one occasion. The first by room carries
#: them all (``combined``), the others name it (``combined_into``); notifier sends one message.
#: A demand (a stage with a deadline) stays one per case: its delivery is that case's evidence.
#: The carrier claims every combined case's lines (in room order; CombinedCase.invoice_ids
#: says which room each is of) and what was paid toward all of them.
_OCCASION = """WINDOW occasion AS (
    PARTITION BY i.payer_party_id, i.stage, i.reminder ORDER BY s.room_label, i.case_id
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"""
_COMBINED_PAYLOAD = f"""(({_PAYLOAD})::jsonb || CASE
    WHEN NOT i.reminder OR i.deadline IS NOT NULL OR count(*) OVER occasion = 1 THEN '{{}}'::jsonb
    WHEN row_number() OVER occasion = 1 THEN jsonb_build_object('combined', jsonb_agg(
        jsonb_build_object('case_id', i.case_id, 'unit_id', i.unit_id,
                           'room_label', s.room_label, 'outstanding_fen', i.outstanding_fen,
                           'oldest_due_date', i.oldest_due_date, 'invoice_ids', i.invoice_ids)
    ) OVER occasion,
        'statement', jsonb_path_query_array(
            jsonb_agg(cl.statement) FILTER (WHERE cl.statement IS NOT NULL) OVER occasion,
            '$[*][*]'),
        'paid_fen', sum(cl.paid_fen) OVER occasion)
    ELSE jsonb_build_object('combined_into', first_value(i.case_id) OVER occasion)
END)::text"""

#: The invoices a case is chased for (overdue: due before the sweep's local date; open, not
#: disputed, not under an honoured installment plan (rule 9), not time-barred; never one not
#: yet due, issue 18 rule 4; a notice before due
#: of a household owing nothing overdue names the bill it announces), for the few cases
#: escalated rather than for every case.
_OPEN_INVOICES = """
LEFT JOIN LATERAL (
    SELECT array_agg(r.invoice_id ORDER BY r.due_date, r.invoice_id) AS invoice_ids,
           CASE WHEN s.notice_only THEN sum(coalesce(r.principal_outstanding_fen, r.total_fen)
                                            + r.late_fee_outstanding_fen)::bigint END
               AS notice_fen
    FROM receivables r
    WHERE r.unit_id = s.unit_id AND r.issued AND NOT r.settled AND r.due_date IS NOT NULL
      AND r.payer_party_id = s.payer_party_id
      AND (r.due_date < s.local_date OR (s.notice_only AND r.due_date = s.anchor_due))
      AND (r.limitation_expires_on IS NULL OR r.limitation_expires_on >= s.local_date)
      AND NOT EXISTS (
          SELECT 1 FROM pauses ps WHERE ps.scope = 'invoice' AND ps.invoice_id = r.invoice_id
            AND ps.resolved_at IS NULL AND ps.starts_at <= sweep_as_of()
            AND ps.ends_at > sweep_as_of())
      AND NOT EXISTS (
          SELECT 1 FROM installment_plans ip WHERE ip.status = 'active'
            AND ip.unit_id = r.unit_id AND r.invoice_id = ANY (ip.invoice_ids)
            AND ip.created_at <= sweep_as_of())
) inv ON true
"""

_TASKS = """
INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, stage, reason,
                   source, assignee, window_start, window_end, due_on, created_at)
SELECT 'task-' || gen_random_uuid(), i.case_id || '|' || i.stage || '|' || i.cycle || '|'
           || (a.value ->> 'channel'),
       i.case_id, i.community_id, i.unit_id, a.value ->> 'channel', i.stage,
       'escalation to ' || i.stage, 'sweep', coalesce(s.owner_staff_id, s.assigned_to),
       CASE WHEN a.value ->> 'channel' = 'phone_call' THEN s.call_start END,
       CASE WHEN a.value ->> 'channel' = 'phone_call' THEN s.call_end END,
       s.local_date + 7, sweep_as_of()
FROM inserted i
JOIN sweep_cases s USING (case_id)
CROSS JOIN LATERAL jsonb_array_elements(i.actions) a
WHERE a.value ->> 'kind' = 'task'
ON CONFLICT (dedup_key) DO NOTHING
"""

ESCALATE = f"""
WITH moved AS (
    UPDATE arrears_cases c
    SET stage = n.code, stage_index = n.idx, stage_entered_at = sweep_as_of(),
        deferred_until = NULL, deferred_reason = NULL,
        legal_since = CASE WHEN n.legal THEN coalesce(c.legal_since, sweep_as_of())
                           ELSE c.legal_since END
    FROM sweep_next n
    WHERE n.verdict = 'go' AND c.case_id = n.case_id AND c.stage_index = n.from_index
      AND c.status = 'open'
      AND NOT (c.on_hold
               AND c.hold_since > sweep_as_of() - make_interval(hours => n.hold_timeout_hours))
    RETURNING c.case_id, c.owner_staff_id, c.assigned_to
), inserted AS (
    INSERT INTO escalations (case_id, stage, previous_stage, community_id, unit_id,
        payer_party_id, tier, outstanding_fen, oldest_due_date, invoice_ids, actions, reminder,
        deadline, staff_id, escalated_at)
    SELECT s.case_id, n.code, s.stage, s.community_id, s.unit_id, s.payer_party_id, s.tier,
           coalesce(inv.notice_fen, s.outstanding_fen), s.anchor_due,
           coalesce(inv.invoice_ids, '{{}}'), n.actions,
           n.sends_messages, s.local_date + n.deadline_days,
           coalesce(m.owner_staff_id, m.assigned_to), sweep_as_of()
    FROM moved m JOIN sweep_next n USING (case_id) JOIN sweep_cases s USING (case_id)
    {_OPEN_INVOICES}
    RETURNING *
), demand AS (
    INSERT INTO demands (case_id, stage, deadline, issued_at, deadline_days)
    SELECT i.case_id, i.stage, i.deadline, i.escalated_at, n.deadline_days
    FROM inserted i JOIN sweep_next n USING (case_id) WHERE i.deadline IS NOT NULL
    ON CONFLICT DO NOTHING
), task AS ({_TASKS})
SELECT i.case_id, i.unit_id, i.stage, {_COMBINED_PAYLOAD} AS payload
FROM inserted i JOIN sweep_cases s USING (case_id)
{SWEEP_CLAIM}
{_OCCASION}
"""

MONTHLY = f"""
WITH recent AS (
    -- Reminders per payer in the widest cap window of any policy (never over-sends).
    SELECT e.payer_party_id, count(DISTINCT (e.stage, e.escalated_at)) AS n,
           max(e.escalated_at) AS last_at
    FROM escalations e
    WHERE e.reminder AND e.escalated_at <= sweep_as_of()
      AND e.escalated_at > sweep_as_of()
          - make_interval(days => (SELECT max(reminder_cap_window_days) FROM policies))
      AND e.payer_party_id IN (SELECT payer_party_id FROM sweep_cases)
    GROUP BY e.payer_party_id
), legal AS (
    SELECT policy_id, min(idx) AS first_legal FROM policy_stages WHERE requires_demand
    GROUP BY policy_id
), demanded AS (
    SELECT DISTINCT case_id FROM demands WHERE case_id IN (SELECT case_id FROM sweep_cases)
), inserted AS (
    INSERT INTO escalations (case_id, stage, cycle, previous_stage, community_id, unit_id,
        payer_party_id, tier, outstanding_fen, oldest_due_date, invoice_ids, actions, reminder,
        staff_id, escalated_at)
    SELECT s.case_id, 'monthly_reminder', to_char(s.local_date, 'YYYY-MM'), s.stage,
           s.community_id, s.unit_id, s.payer_party_id, s.tier, s.outstanding_fen,
           s.oldest_due_date, coalesce(inv.invoice_ids, '{{}}'), s.monthly_reminder_actions,
           true, coalesce(s.owner_staff_id, s.assigned_to), sweep_as_of()
    FROM sweep_cases s
    LEFT JOIN sweep_next n ON n.case_id = s.case_id
    LEFT JOIN recent r ON r.payer_party_id = s.payer_party_id
    LEFT JOIN legal l ON l.policy_id = s.policy_id
    LEFT JOIN demanded d ON d.case_id = s.case_id
    {_OPEN_INVOICES}
    WHERE s.monthly_reminder_day IS NOT NULL
      AND extract(day FROM s.local_date) >= s.monthly_reminder_day
      AND s.outstanding_fen > 0 AND s.oldest_due_date < s.local_date
      AND s.stage_index >= 0 AND (s.stage_entered_at IS NULL OR s.stage_entered_at < sweep_as_of())
      AND NOT s.held AND NOT s.paused AND NOT s.promised AND NOT s.quiet
      AND coalesce(n.verdict, '') NOT IN ('go', 'deferred:cap')
      AND coalesce(r.n, 0) < s.reminder_cap
      AND (r.last_at IS NULL OR r.last_at <= sweep_as_of() - interval '3 days')
      AND (l.first_legal IS NULL OR s.stage_index < l.first_legal)
      AND d.case_id IS NULL
    ON CONFLICT (case_id, stage, cycle, payer_party_id) DO NOTHING
    RETURNING *
)
SELECT i.case_id, i.unit_id, i.stage, {_COMBINED_PAYLOAD} AS payload
FROM inserted i JOIN sweep_cases s USING (case_id)
{SWEEP_CLAIM}
{_OCCASION}
"""
