-- The staff console's arrears list (欠费, issue 23): filter cases by building and by fee item.
-- Both come from billing's InvoiceIssued (building_id, the lines' fee items) and are kept on
-- the receivable. Receivables issued before this migration have neither until billing
-- publishes them again (a replay of billing.invoice-issued fills them).
ALTER TABLE receivables
    ADD COLUMN building_id text,
    ADD COLUMN fee_items text[];
-- A building's households (the list's building filter), open receivables only.
CREATE INDEX receivables_open_building ON receivables (building_id, unit_id)
    WHERE issued AND NOT settled;
