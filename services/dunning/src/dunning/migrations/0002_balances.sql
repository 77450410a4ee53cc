-- What is still owed on each invoice, from billing.invoice-balance-changed (highest version wins).
ALTER TABLE receivables
    ADD COLUMN balance_version integer NOT NULL DEFAULT 0,
    ADD COLUMN status text,
    ADD COLUMN principal_outstanding_fen bigint,
    ADD COLUMN late_fee_outstanding_fen bigint NOT NULL DEFAULT 0;
