-- Issue 17: a pay link asks for what is owed that day (unpaid principal plus the late fee
-- accrued to the day before), and prepayments are capped.

-- The community's contract terms (billing.community-updated): its time zone (the local day an
-- order is priced for), the late-fee terms of invoices billing has published no balance for
-- yet, and the advance-collection cap (months, default 12; never past contract_end).
ALTER TABLE communities
    ADD COLUMN time_zone           text,
    ADD COLUMN late_fee_daily_rate numeric,
    ADD COLUMN late_fee_annual_cap numeric,
    ADD COLUMN advance_cap_months  integer,
    ADD COLUMN contract_end        date;

-- The invoice read model gains what billing.invoice-issued and billing.invoice-balance-changed
-- say about each invoice: property fee or utilities (NULL: property), the first day bearing a
-- late fee, the schedule version (NULL: imported opening arrears), and the newest balance
-- (balance_version: the highest wins whatever the arrival order) with its late-fee basis.
ALTER TABLE invoices
    ADD COLUMN collection                text,
    ADD COLUMN interest_from             date,
    ADD COLUMN schedule_version          text,
    ADD COLUMN balance_version           integer,
    ADD COLUMN status                    text,
    ADD COLUMN principal_paid_fen        bigint,
    ADD COLUMN principal_outstanding_fen bigint,
    ADD COLUMN late_fee_fen              bigint,
    ADD COLUMN late_fee_paid_fen         bigint,
    ADD COLUMN late_fee_waived_fen       bigint,
    ADD COLUMN late_fee_basis            jsonb,
    ADD COLUMN time_barred               boolean,
    ADD COLUMN settled_version           integer;

-- The latest regular invoice of a unit (its monthly charge, for the prepayment cap).
CREATE INDEX invoices_by_unit_period ON invoices (unit_id, period_start DESC);
