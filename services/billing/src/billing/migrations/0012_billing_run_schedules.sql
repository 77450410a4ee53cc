-- Each community's billing schedule, data rather than a hand-kept list of CronJobs: the cycle
-- of its runs and the day of the period a run is due (day 1 = the period's first day; at most
-- 28 so that every month has it). One call (POST /billing-runs/due) starts every due and absent
-- run; billing_run_enabled = false leaves a community to its staff (runs started by hand).
-- Existing communities: monthly, due on the period's first day, enabled (what the per-community
-- CronJobs of the Helm chart did).
ALTER TABLE communities
    ADD COLUMN billing_cycle text NOT NULL DEFAULT 'monthly'
        CHECK (billing_cycle IN ('monthly', 'quarterly', 'half_yearly', 'yearly')),
    ADD COLUMN billing_run_day integer NOT NULL DEFAULT 1
        CHECK (billing_run_day BETWEEN 1 AND 28),
    ADD COLUMN billing_run_enabled boolean NOT NULL DEFAULT true;
