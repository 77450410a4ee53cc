-- A household's recent payments (the hold a payment puts on its case, the evidence pack):
-- looked up by unit on every invoice event, a sequential scan without this index.
CREATE INDEX payments_seen_by_unit ON payments_seen (unit_id, paid_at);
