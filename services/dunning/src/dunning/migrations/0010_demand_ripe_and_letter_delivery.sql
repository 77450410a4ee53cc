-- Issue 18, rules 2 and 3: a demand counts only when delivered, in time, and its deadline
-- (run from delivery) has passed; posted is not delivered.
--
-- The stage's deadline in days, kept on the demand: the effective deadline is the local
-- delivery date + deadline_days. Existing demands: the deadline they were issued with less
-- their local issue date.
ALTER TABLE demands ADD COLUMN deadline_days integer;
UPDATE demands SET deadline_days = greatest(deadline - (issued_at AT TIME ZONE 'Asia/Shanghai')::date, 0);
ALTER TABLE demands ALTER COLUMN deadline_days SET NOT NULL,
    ADD CONSTRAINT demands_deadline_days CHECK (deadline_days >= 0);

-- A letter staff recorded is posted (its tracking number); it is delivered only with proof:
-- the carrier's delivery status (EMS 妥投/signed) or a signed receipt (its scan or reference).
-- Letters recorded before this migration (delivery_recorded_at NULL) keep what they had.
ALTER TABLE letters ADD COLUMN carrier_status text,
    ADD COLUMN receipt_reference text,
    ADD COLUMN delivery_recorded_by text,
    ADD COLUMN delivery_recorded_at timestamptz,
    ADD CONSTRAINT letters_delivery_proof CHECK (
        delivered_at IS NULL OR carrier_status IS NOT NULL OR receipt_reference IS NOT NULL
        OR delivery_recorded_at IS NULL);

-- The one home of the rule (sweep and manual advance): why a demand issued at ``issued_at``
-- with the stated ``deadline`` and ``deadline_days`` does not (yet) satisfy the legal-referral
-- precondition on the local date ``today`` (in ``tz``), given its delivery at
-- ``delivered_at`` (NULL: no delivery proof); NULL when it does. Reasons, in order:
--   no_delivered_demand         no delivery proof;
--   delivered_before_issue      the delivery time is before the demand was issued;
--   delivered_after_deadline    delivered after the deadline the demand states;
--   demand_deadline_not_passed  the deadline counted from delivery has not passed today.
-- A plain SQL expression (inlined by the planner): the set-based sweep stays set-based.
CREATE FUNCTION dunning_demand_refusal(issued_at timestamptz, delivered_at timestamptz,
                                       deadline date, deadline_days integer, today date,
                                       tz text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN delivered_at IS NULL THEN 'no_delivered_demand'
        WHEN delivered_at < issued_at THEN 'delivered_before_issue'
        WHEN (delivered_at AT TIME ZONE tz)::date > deadline THEN 'delivered_after_deadline'
        WHEN (delivered_at AT TIME ZONE tz)::date + deadline_days >= today
            THEN 'demand_deadline_not_passed'
    END
$$;

-- The precondition of a case as of ``as_of`` (the instant judged: the server's clock for
-- staff, the simulation clock for the service role), ``tz`` its policy's time zone: NULL when
-- some demand of the case, delivered (evidence recorded at or before ``as_of``), is ripe;
-- otherwise the most advanced reason any demand reached (see dunning_demand_refusal).
CREATE FUNCTION dunning_case_demand_refusal(p_case_id text, as_of timestamptz, tz text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN bool_or(r IS NULL) THEN NULL
                ELSE coalesce((array_agg(r ORDER BY array_position(ARRAY[
                    'demand_deadline_not_passed', 'delivered_after_deadline',
                    'delivered_before_issue', 'no_delivered_demand'], r)))[1],
                    'no_delivered_demand') END
    FROM (
        SELECT dunning_demand_refusal(d.issued_at, ev.at, d.deadline, d.deadline_days,
                                      (as_of AT TIME ZONE tz)::date, tz) AS r
        FROM demands d
        LEFT JOIN contact_evidence ev ON ev.subject_id = d.case_id AND ev.stage = d.stage
             AND ev.outcome = 'delivered' AND ev.at <= as_of
        WHERE d.case_id = p_case_id
    ) x
$$;
