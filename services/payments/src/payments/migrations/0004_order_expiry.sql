-- Expired orders closed at the gateway (as-of operation POST /orders/expire).
-- status gains 'expired': the order was past its expiry, not paid at the gateway, and closed
-- there (or had nothing to close). A lease keeps two replicas from working the same order.

ALTER TABLE payment_orders
    ADD COLUMN closed_at          timestamptz,
    ADD COLUMN expiry_lease_until timestamptz;

CREATE INDEX payment_orders_pending_by_expiry ON payment_orders (expires_at)
    WHERE status = 'pending';
