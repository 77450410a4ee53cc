-- A payment-code scan (POST /payments/scan) sent with an Idempotency-Key: the counter's
-- screen retried, or a second click, answers with the first scan's outcome instead of
-- charging again. Keys are per community (the scan's community, checked against the
-- caller's scope first). The payer's code itself is not kept: request_hash covers it.
CREATE TABLE code_scans (
    community_id    text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    text        NOT NULL,
    created_at      timestamptz NOT NULL,
    order_id        text,
    result          jsonb,      -- the CodePayment answer, once the scan has an outcome
    PRIMARY KEY (community_id, idempotency_key)
);
