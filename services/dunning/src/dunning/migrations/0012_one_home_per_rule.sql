-- Issue 18, rule 5 and "one home per rule": the rules the set-based sweep runs, each in one
-- named SQL function that the sweep's statements call and the example tables of the tests run
-- against (tests/integration/test_rules_in_sql.py).

-- Months overdue, Civil Code art. 202 at month ends (DOMAIN.md, December 2026): n months have
-- passed on the n-th month's corresponding day; on the target month's last day when it has no
-- such day, or when the due date is itself a month's last day (due 03-31, as of 09-30 = 6;
-- due 02-28, as of 03-30 = 0, as of 03-31 = 1). The Python twin is propfee.dates.months_overdue
-- (the same example table runs against both).
CREATE OR REPLACE FUNCTION dunning_months_overdue(due date, as_of date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(0, ((date_part('year', as_of) - date_part('year', due)) * 12
        + date_part('month', as_of) - date_part('month', due))::integer
        - CASE WHEN date_part('day', as_of + 1) = 1 THEN 0
               WHEN date_part('day', due + 1) = 1 THEN 1
               WHEN date_part('day', as_of) < date_part('day', due) THEN 1
               ELSE 0 END)
$$;

-- A case's tier (红黄绿三级预警) from its months overdue and the amount chased: top down, first
-- match wins. Red: more than red_months and overdue principal above red_amount_fen (a late fee
-- alone is never red); yellow: yellow_months or more; green: green_months or more; else (and
-- when nothing is chased) 'current'. The thresholds are the policy's.
CREATE FUNCTION dunning_tier(months integer, principal_fen bigint, outstanding_fen bigint,
                             red_months integer, red_amount_fen bigint, yellow_months integer,
                             green_months integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN months IS NULL OR coalesce(outstanding_fen, 0) <= 0 THEN 'current'
        WHEN months > red_months AND coalesce(principal_fen, 0) > red_amount_fen THEN 'red'
        WHEN months >= yellow_months THEN 'yellow'
        WHEN months >= green_months THEN 'green'
        ELSE 'current'
    END
$$;

-- The reminder cap (Civil Code art. 1033; default 4 per person in any rolling 30 days, the
-- shared default of propfee.contact_rules): given the payer's reminders sent up to as_of,
-- newest first, NULL when one more may go now, else the instant it may (the cap-th newest
-- leaves the window): deferred, never dropped. The sweep passes the reminders of the widest
-- window it needs; older ones do not count.
CREATE FUNCTION dunning_cap_free_at(sent_newest_first timestamptz[], cap integer,
                                    window_days integer, as_of timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN sent_newest_first[cap] > as_of - make_interval(days => window_days)
                THEN sent_newest_first[cap] + make_interval(days => window_days) END
$$;

-- The limitation clock's state on a day (Civil Code art. 188): 'expired' after its last day,
-- 'alert' from six months before it (staff are alerted), else 'running'. The last day itself
-- (receivables.limitation_expires_on) is computed in Python (dunning.domain.limitation) from
-- every restart and stored.
CREATE FUNCTION dunning_limitation_state(expires_on date, as_of date) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN expires_on IS NULL THEN NULL
        WHEN as_of > expires_on THEN 'expired'
        WHEN as_of >= (expires_on - interval '6 months')::date THEN 'alert'
        ELSE 'running'
    END
$$;

-- Issue 18 rule 9: the invoices under an honoured (active) plan, looked up per household by
-- the sweep's listed invoices and by a manual advance.
CREATE INDEX installment_plans_active_unit ON installment_plans (unit_id) WHERE status = 'active';
