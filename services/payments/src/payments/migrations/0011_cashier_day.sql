-- Issue 23: 日清日结 per cashier. Who recorded a counter payment (the signed-in staff member's
-- id, the token's subject): the cashier's drawer is counted against their own day's payments.
-- Payments recorded before this migration have none.
ALTER TABLE payments ADD COLUMN recorded_by text;
CREATE INDEX payments_by_recorder ON payments (recorded_by, paid_at) WHERE recorded_by IS NOT NULL;
