-- The receipt as a document (issue 19): what payments told about the money (the gateway and
-- its transaction number, the cashier at the counter), how often it was downloaded (the first
-- download is the original, every later one is printed as a reprint, 重印), and its
-- verification code (an HMAC of the receipt number under billing's receipt secret, stored on
-- first download so /receipts/verify/{code} finds the receipt by an index).
ALTER TABLE receipts
    ADD COLUMN gateway                text,
    ADD COLUMN gateway_transaction_id text,
    ADD COLUMN cashier                text,
    ADD COLUMN downloads              integer NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    ADD COLUMN verify_code            text    UNIQUE;

-- Receipts issued before this migration print no transaction number and no cashier: billing
-- was not told them (payments still has the transaction numbers).
