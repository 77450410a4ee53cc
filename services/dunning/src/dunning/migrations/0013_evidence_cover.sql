-- Issue 18, rule 14: the evidence bundle's cover names the creditor, the periods claimed, the
-- fee-schedule versions and the late fee's terms, from events dunning already consumes.
--
-- Each invoice's period and schedule version (InvoiceIssued), and how its late fee accrues
-- (InvoiceBalanceChanged.late_fee_basis, propfee.events.LateFeeBasis: rate, cap, days), kept
-- with the newest balance version, and the day the late fee owed was accrued to (the balance's
-- or the newest LateFeeAssessed's as_of): the days the claim shows match the amount it shows.
-- NULL for invoices learnt before this migration.
ALTER TABLE receivables
    ADD COLUMN period_start date,
    ADD COLUMN period_end date,
    ADD COLUMN schedule_version text,
    ADD COLUMN late_fee_basis jsonb,
    ADD COLUMN late_fee_as_of date;

-- The creditor as people name it (CommunityUpdated): the property-service company, the
-- community, its address and the service contract's end.
ALTER TABLE communities
    ADD COLUMN company_name text,
    ADD COLUMN name text,
    ADD COLUMN address text,
    ADD COLUMN contract_end date;
