-- Every request naming a payer party is checked against the caller's scope
-- (adapters/scoping.py: the party's community from invoices, payments or orders): by index,
-- not a pass over the three tables per request (the demo's owners pay some 13,000 times a
-- year; each pass grew with the year).
CREATE INDEX invoices_by_payer ON invoices (payer_party_id);
CREATE INDEX payments_by_payer ON payments (payer_party_id);
CREATE INDEX payment_orders_by_payer ON payment_orders (payer_party_id);
