-- Payments' walking-skeleton schema: every fen received, recorded exactly once.

CREATE TABLE payments (
    payment_id             text        PRIMARY KEY,
    -- What makes two reports the same payment: the gateway's transaction id for gateway
    -- payments, the caller's Idempotency-Key for counter payments.
    dedup_key              text        NOT NULL UNIQUE,
    community_id           text        NOT NULL,
    unit_id                text        NOT NULL,
    payer_party_id         text        NOT NULL,
    invoice_ids            text[]      NOT NULL DEFAULT '{}',
    amount_fen             bigint      NOT NULL CHECK (amount_fen > 0),
    currency               text        NOT NULL DEFAULT 'CNY' CHECK (currency = 'CNY'),
    channel                text        NOT NULL,
    gateway                text,
    gateway_transaction_id text,
    out_trade_no           text,
    paid_at                timestamptz NOT NULL,
    received_at            timestamptz NOT NULL,
    request_hash           text        NOT NULL
);
CREATE INDEX payments_by_unit ON payments (unit_id, paid_at);
