"""The sweep's SQL: a few set-based statements over every open case (no per-case loop).

``sweep_as_of()`` is the as-of instant (set for the transaction) and ``sweep_zones``
holds, per policy (its own quiet hours in its own time zone), quiet hours now and the next
call window. The sweep's scope
(``dunning.sweep_company``, ``dunning.sweep_communities``: empty for every one) decides which
cases enter ``sweep_cases``; every later statement works on ``sweep_cases`` only.
"""

#: The sweep's company ('' in the setting: every company) and communities.
SWEEP_COMPANY = "nullif(current_setting('dunning.sweep_company', true), '')"
SWEEP_COMMUNITIES = "nullif(current_setting('dunning.sweep_communities', true), '')::text[]"


def in_item(payer: str) -> str:
    """The item's payer slots ``[from, to)`` (migration 0015) of the payer column ``payer``:
    every case of one payer in one item."""
    return (
        f"dunning_payer_slot({payer}) >= current_setting('dunning.sweep_slot_from')::int "
        f"AND dunning_payer_slot({payer}) < current_setting('dunning.sweep_slot_to')::int"
    )


IN_ITEM = in_item("c.payer_party_id")


def in_sweep_scope(community: str) -> str:
    """A condition keeping rows of the community column ``community`` within the sweep's
    scope (a community whose company dunning does not know is outside a company's scope)."""
    return (
        f"({SWEEP_COMPANY} IS NULL OR EXISTS (SELECT 1 FROM communities ssc "
        f"WHERE ssc.community_id = {community} AND ssc.company_id = {SWEEP_COMPANY})) "
        f"AND ({SWEEP_COMMUNITIES} IS NULL OR {community} = ANY({SWEEP_COMMUNITIES}))"
    )


#: A community's late-fee de-minimis when it has set none: 5,000 fen (50 yuan); the column
#: default of ``community_settings`` (migration 0010) is the same.
DEFAULT_LATE_FEE_DE_MINIMIS_FEN = 5_000

#: An open receivable's principal and late fee (an imported 'opening_late_fee' invoice is
#: late fee: its whole open amount, never principal).
PRINCIPAL = (
    "CASE WHEN r.kind = 'opening_late_fee' THEN 0 "
    "ELSE coalesce(r.principal_outstanding_fen, r.total_fen) END"
)
LATE_FEE = (
    "r.late_fee_outstanding_fen + CASE WHEN r.kind = 'opening_late_fee' "
    "THEN coalesce(r.principal_outstanding_fen, r.total_fen) ELSE 0 END"
)
DE_MINIMIS = str(DEFAULT_LATE_FEE_DE_MINIMIS_FEN)
#: Overdue: due before the sweep's local date (an invoice due today is not yet overdue).
OVERDUE = "r.due_date < k.local_date"

#: The overdue principal of one case (``$1``) as of a local date (``$2``): its payer's open
#: invoices of the unit due before that date, not disputed, not time-barred (a manual advance
#: into a legal stage needs some, as the sweep's ``refused:late_fee_only`` does).
CASE_OVERDUE_PRINCIPAL = f"""
SELECT coalesce(sum({PRINCIPAL}), 0)::bigint
FROM arrears_cases c
JOIN receivables r ON r.unit_id = c.unit_id AND r.payer_party_id = c.payer_party_id
WHERE c.case_id = $1 AND r.issued AND NOT r.settled AND r.due_date < $2
  AND (r.limitation_expires_on IS NULL OR r.limitation_expires_on >= $2)
  AND NOT EXISTS (
      SELECT 1 FROM pauses ps WHERE ps.scope = 'invoice' AND ps.invoice_id = r.invoice_id
        AND ps.resolved_at IS NULL AND ps.ends_at > now())
"""

ZONES = """
CREATE TEMP TABLE sweep_zones (
    policy_id text, quiet boolean, quiet_until timestamptz, call_start timestamptz,
    call_end timestamptz
) ON COMMIT DROP
"""

FILL_ZONES = """
INSERT INTO sweep_zones
SELECT * FROM unnest($1::text[], $2::boolean[], $3::timestamptz[], $4::timestamptz[],
                     $5::timestamptz[])
"""

#: The item's open cases with their policy (a table of their own, analysed before the rest:
#: the planner then knows how many there are; estimated from the scope and slot conditions it
#: guessed one row and chose nested loops over every pair).
BASE_CASES = f"""
CREATE TEMP TABLE sweep_base ON COMMIT DROP AS
    SELECT c.case_id, c.unit_id, c.community_id, c.payer_party_id, c.stage, c.stage_index,
           c.stage_entered_at, c.assigned_to, c.owner_staff_id, c.room_label,
           c.on_hold AND c.hold_since > sweep_as_of()
               - make_interval(hours => p.hold_timeout_hours) AS held,
           p.policy_id, p.time_zone, (sweep_as_of() AT TIME ZONE p.time_zone)::date AS local_date,
           p.reminder_cap, p.reminder_cap_window_days, p.hold_timeout_hours,
           p.promise_grace_days, p.monthly_reminder_day, p.monthly_reminder_actions,
           p.red_months, p.red_amount_fen, p.yellow_months, p.green_months, p.red_case_owner,
           coalesce(cs.late_fee_de_minimis_fen, {DE_MINIMIS}) AS de_minimis_fen
    FROM arrears_cases c
    LEFT JOIN community_settings cs ON cs.community_id = c.community_id
    LEFT JOIN community_policies cp ON cp.community_id = c.community_id
    LEFT JOIN communities co ON co.community_id = c.community_id
    LEFT JOIN policies cop ON cop.policy_id = 'company:' || co.company_id
    JOIN policies p ON p.policy_id = coalesce(cp.policy_id, cop.policy_id, 'default')
    WHERE c.status = 'open' AND {IN_ITEM} AND {in_sweep_scope("c.community_id")}
"""

CASES = f"""
CREATE TEMP TABLE sweep_cases ON COMMIT DROP AS
WITH cases AS (
    SELECT * FROM sweep_base
), disputed AS (
    SELECT DISTINCT invoice_id FROM pauses
    WHERE scope = 'invoice' AND resolved_at IS NULL
      AND starts_at <= sweep_as_of() AND ends_at > sweep_as_of()
), planned AS (
    -- Issue 18 rule 9: an invoice under an installment plan being honoured (active: no part
    -- missed) is held; it counts for nothing until the plan is missed.
    SELECT DISTINCT unnest(p.invoice_ids) AS invoice_id FROM installment_plans p
    WHERE p.status = 'active' AND p.created_at <= sweep_as_of()
), agg AS (
    -- Overdue money only (rule 4: an invoice not yet due counts for nothing), split into
    -- principal and late fee (rule 6; an imported 'opening_late_fee' invoice is late fee).
    -- The next open bill not yet due is kept only for a notice before its due date.
    SELECT k.case_id,
           coalesce(sum({PRINCIPAL}) FILTER (WHERE {OVERDUE}), 0)::bigint AS principal_fen,
           coalesce(sum({LATE_FEE}) FILTER (WHERE {OVERDUE}), 0)::bigint AS late_fee_fen,
           min(r.due_date) FILTER (WHERE {OVERDUE} AND {PRINCIPAL} > 0) AS oldest_principal_due,
           min(r.due_date) FILTER (WHERE {OVERDUE} AND {LATE_FEE} > 0) AS oldest_late_fee_due,
           min(r.due_date) FILTER (WHERE NOT {OVERDUE}) AS next_due
    FROM cases k
    JOIN receivables r ON r.unit_id = k.unit_id AND r.payer_party_id = k.payer_party_id
    LEFT JOIN disputed d ON d.invoice_id = r.invoice_id
    LEFT JOIN planned pl ON pl.invoice_id = r.invoice_id
    WHERE r.issued AND NOT r.settled AND r.due_date IS NOT NULL AND d.invoice_id IS NULL
      AND pl.invoice_id IS NULL
      -- The item's payers' invoices only (the join keeps no other anyway): read by the slot
      -- index of open invoices (migration 0018), not a pass over every open invoice per item.
      AND {in_item("r.payer_party_id")}
      AND (r.limitation_expires_on IS NULL OR r.limitation_expires_on >= k.local_date)
    GROUP BY k.case_id
), paused AS (
    SELECT DISTINCT case_id FROM pauses
    WHERE scope = 'case' AND resolved_at IS NULL
      AND starts_at <= sweep_as_of() AND ends_at > sweep_as_of()
), promised AS (
    SELECT DISTINCT pr.case_id FROM promises pr JOIN cases k USING (case_id)
    WHERE pr.status = 'open' AND pr.promised_date + k.promise_grace_days >= k.local_date
)
SELECT k.*, coalesce(a.outstanding_fen, 0)::bigint AS outstanding_fen, a.oldest_due_date,
       m.months, coalesce(a.principal_fen, 0)::bigint AS principal_fen,
       -- Nothing chased but a bill not yet due: only a stage due before that due date (the
       -- notice before due) may go, about that bill alone.
       coalesce(a.outstanding_fen, 0) = 0 AND a.next_due IS NOT NULL AS notice_only,
       coalesce(a.oldest_due_date, a.next_due) AS anchor_due,
       dunning_tier(CASE WHEN a.oldest_due_date IS NOT NULL THEN m.months END,
                    a.principal_fen, a.outstanding_fen, k.red_months, k.red_amount_fen,
                    k.yellow_months, k.green_months) AS tier,
       pa.case_id IS NOT NULL AS paused, pm.case_id IS NOT NULL AS promised,
       coalesce(t.quiet, false) AS quiet, t.quiet_until, t.call_start, t.call_end
FROM cases k
LEFT JOIN agg g USING (case_id)
CROSS JOIN LATERAL (
    SELECT g.principal_fen, g.next_due,
           dunning_chased_fen(g.principal_fen, g.late_fee_fen, k.de_minimis_fen) AS outstanding_fen,
           CASE WHEN g.principal_fen > 0 THEN g.oldest_principal_due
                WHEN g.late_fee_fen >= k.de_minimis_fen THEN g.oldest_late_fee_due
           END AS oldest_due_date
) a
CROSS JOIN LATERAL (SELECT dunning_months_overdue(a.oldest_due_date, k.local_date) AS months) m
LEFT JOIN paused pa USING (case_id)
LEFT JOIN promised pm USING (case_id)
LEFT JOIN sweep_zones t ON t.policy_id = k.policy_id
"""

REFRESH_CASES = """
UPDATE arrears_cases c
SET tier = s.tier, outstanding_fen = s.outstanding_fen, oldest_due_date = s.oldest_due_date
FROM sweep_cases s
WHERE c.case_id = s.case_id
  AND (c.tier, c.outstanding_fen, c.oldest_due_date)
      IS DISTINCT FROM (s.tier, s.outstanding_fen, s.oldest_due_date)
"""

NEXT_STAGES = """
CREATE TEMP TABLE sweep_next ON COMMIT DROP AS
WITH sent AS (
    SELECT s.case_id, count(*) AS n,
           dunning_cap_free_at(array_agg(e.escalated_at ORDER BY e.escalated_at DESC),
                               s.reminder_cap, s.reminder_cap_window_days, sweep_as_of())
               AS free_at
    FROM sweep_cases s
    -- Occasions, not rows (issue 18 rule 12): one stage reached by several units of the
    -- person in one sweep is one combined reminder.
    JOIN (SELECT DISTINCT payer_party_id, stage, escalated_at, reminder FROM escalations
          WHERE reminder AND escalated_at <= sweep_as_of() AND escalated_at > sweep_as_of()
                - make_interval(days => (SELECT max(reminder_cap_window_days) FROM policies))
            AND payer_party_id IN (SELECT payer_party_id FROM sweep_cases)
         ) e ON e.payer_party_id = s.payer_party_id AND e.reminder
         AND e.escalated_at > sweep_as_of() - make_interval(days => s.reminder_cap_window_days)
         AND e.escalated_at <= sweep_as_of()
    WHERE s.outstanding_fen > 0 OR s.notice_only
    GROUP BY s.case_id, s.reminder_cap, s.reminder_cap_window_days
), demanded AS (
    -- Rule 2's one home: dunning_demand_refusal (migration 0010), as the manual advance.
    SELECT DISTINCT d.case_id FROM demands d
    JOIN sweep_cases s ON s.case_id = d.case_id
    JOIN contact_evidence ev ON ev.subject_id = d.case_id AND ev.stage = d.stage
         AND ev.outcome = 'delivered' AND ev.at <= sweep_as_of()
    WHERE dunning_demand_refusal(d.issued_at, ev.at, d.deadline, d.deadline_days,
                                 s.local_date, s.time_zone) IS NULL
), candidate AS (
    SELECT s.case_id, s.stage_index AS from_index, st.idx, st.code, st.sends_messages,
           st.actions, st.deadline_days, st.requires_demand, st.red_only, st.legal,
           st.min_months_overdue, s.months, s.tier, s.local_date, s.quiet, s.quiet_until,
           s.notice_only, s.anchor_due, s.principal_fen,
           s.reminder_cap, s.hold_timeout_hours, coalesce(sent.n, 0) AS sent_n, sent.free_at,
           dm.case_id IS NOT NULL AS demand_ok,
           greatest(
               CASE WHEN st.anchor = 'previous_stage' AND s.stage_entered_at IS NOT NULL
                    THEN (s.stage_entered_at AT TIME ZONE s.time_zone)::date + st.offset_days
                    ELSE s.anchor_due + st.offset_days END,
               (s.stage_entered_at AT TIME ZONE s.time_zone)::date + st.min_gap_days
           ) AS due_on
    FROM sweep_cases s
    JOIN LATERAL (
        SELECT * FROM policy_stages ps
        WHERE ps.policy_id = s.policy_id AND ps.idx > s.stage_index AND ps.automatic
          AND (ps.expires_after_days IS NULL
               OR s.local_date <= s.anchor_due + ps.expires_after_days)
        ORDER BY ps.idx LIMIT 1
    ) st ON true
    LEFT JOIN sent USING (case_id)
    LEFT JOIN demanded dm USING (case_id)
    WHERE (s.outstanding_fen > 0 OR s.notice_only) AND NOT s.held AND NOT s.paused
      AND NOT s.promised AND s.anchor_due IS NOT NULL
)
SELECT c.*,
       CASE
           WHEN c.local_date < c.due_on OR c.months < c.min_months_overdue THEN 'not_due'
           WHEN c.notice_only AND c.due_on >= c.anchor_due THEN 'not_due'
           WHEN c.red_only AND c.tier <> 'red' THEN 'refused:not_red'
           -- No legal stage over a late fee alone: the legal track needs overdue principal.
           WHEN c.legal AND c.principal_fen <= 0 THEN 'refused:late_fee_only'
           WHEN c.requires_demand AND NOT c.demand_ok THEN 'refused:no_delivered_demand'
           WHEN c.sends_messages AND c.quiet THEN 'deferred:quiet_hours'
           WHEN c.sends_messages AND c.free_at IS NOT NULL THEN 'deferred:cap'
           ELSE 'go'
       END AS verdict
FROM candidate c
"""

#: Issue 18 rule 12, within one sweep: the cap counts the person (the payer party, one for all
#: their units), so of one person's reminder stages due now only as many go as the cap leaves
#: (the most advanced stage first); each stage that goes is one occasion, the cases reaching it
#: one combined reminder (ESCALATE marks them). The others wait as 'deferred:cap'.
CAP_PER_PERSON = """
UPDATE sweep_next n SET verdict = 'deferred:cap'
FROM (
    SELECT g.case_id, g.sent_n + dense_rank() OVER (
               PARTITION BY s.payer_party_id ORDER BY g.idx DESC, g.code) AS nth
    FROM sweep_next g JOIN sweep_cases s USING (case_id)
    WHERE g.verdict = 'go' AND g.sends_messages
) r
WHERE n.case_id = r.case_id AND r.nth > n.reminder_cap
"""

DEFER = """
UPDATE arrears_cases c
SET deferred_until = CASE n.verdict WHEN 'deferred:quiet_hours' THEN n.quiet_until
                                    ELSE n.free_at END,
    deferred_reason = substr(n.verdict, 10)
FROM sweep_next n
WHERE c.case_id = n.case_id AND n.verdict LIKE 'deferred:%'
"""
