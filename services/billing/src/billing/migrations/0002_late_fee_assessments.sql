-- The late fee last published for each invoice (a late-fee assessment publishes only changes).
ALTER TABLE invoices ADD COLUMN late_fee_assessed_fen bigint NOT NULL DEFAULT 0;
