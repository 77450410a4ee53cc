-- Money rules of the account replay (issue 17): lapsed prepayment discounts, time-barred
-- invoices (dunning's limitation clock), late fees the old system already charged.

-- A prepayment discount not earned by paying in full by the due date lapses the day after:
-- the principal owed becomes the undiscounted amount, total_fen + discount_lapsed_fen.
ALTER TABLE invoices
    ADD COLUMN discount_lapsed_fen   bigint  NOT NULL DEFAULT 0 CHECK (discount_lapsed_fen >= 0),
    -- As last published on InvoiceBalanceChanged (the replay decides; these detect a change).
    ADD COLUMN time_barred           boolean NOT NULL DEFAULT false,
    ADD COLUMN limitation_expires_on date;

DO $$
DECLARE
    name text;
BEGIN
    FOR name IN
        SELECT conname FROM pg_constraint
         WHERE conrelid = 'invoices'::regclass AND contype = 'c'
           AND (pg_get_constraintdef(oid) ~ 'principal_paid_fen.*total_fen'
                OR pg_get_constraintdef(oid) ~ 'kind.*opening_arrears')
    LOOP
        EXECUTE format('ALTER TABLE invoices DROP CONSTRAINT %I', name);
    END LOOP;
END
$$;
ALTER TABLE invoices
    ADD CONSTRAINT invoices_principal_paid_within
        CHECK (principal_paid_fen BETWEEN 0 AND total_fen + discount_lapsed_fen),
    -- 'opening_late_fee': a late fee the old system already charged, imported as its own fixed
    -- line (a ledger import); it bears no late fee of its own and is never recomputed.
    ADD CONSTRAINT invoices_kind_check
        CHECK (kind IN ('regular', 'opening_arrears', 'opening_late_fee', 'manual'));

-- Dunning's limitation clock per invoice (LimitationClockChanged): the highest clock_version
-- wins whatever the arrival order; a clock may come before billing knows its invoice and
-- applies when the invoice arrives. From the day after expires_on the invoice is time-barred.
CREATE TABLE limitation_clocks (
    invoice_id      text        PRIMARY KEY,
    community_id    text        NOT NULL,
    unit_id         text        NOT NULL,
    due_date        date        NOT NULL,
    expires_on      date        NOT NULL,
    clock_version   integer     NOT NULL CHECK (clock_version >= 1),
    last_restart_on date,
    changed_at      timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
