-- Payment orders, gateway transactions, exceptions for finance review, refunds, receipts.

-- Read model of billing's invoices (from billing.invoice-issued / billing.invoice-settled).
-- Either event may arrive first: a row can be settled before its details are known.
CREATE TABLE invoices (
    invoice_id     text        PRIMARY KEY,
    community_id   text        NOT NULL,
    unit_id        text        NOT NULL,
    payer_party_id text        NOT NULL,
    total_fen      bigint      NOT NULL,
    due_date       date,
    period_start   date,
    period_end     date,
    room_label     text,
    issued_at      timestamptz,
    settled_at     timestamptz
);
CREATE INDEX invoices_open_by_unit ON invoices (unit_id) WHERE settled_at IS NULL;

CREATE TABLE payment_orders (
    order_id       text        PRIMARY KEY,
    out_trade_no   text        NOT NULL UNIQUE,
    community_id   text        NOT NULL,
    unit_id        text        NOT NULL,
    payer_party_id text        NOT NULL,
    invoice_ids    text[]      NOT NULL DEFAULT '{}',
    amount_fen     bigint      NOT NULL CHECK (amount_fen > 0),
    currency       text        NOT NULL DEFAULT 'CNY',
    channel        text        NOT NULL,           -- wechat_pay | alipay | unionpay
    scene          text        NOT NULL,           -- jsapi | native | qr | web | codepay
    status         text        NOT NULL DEFAULT 'pending',  -- pending | paid | closed
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    paid_at        timestamptz,
    payment_id     text,
    gateway_payload jsonb                           -- what the gateway answered (prepay id, code url)
);
CREATE INDEX payment_orders_by_unit ON payment_orders (unit_id, created_at);

-- Every gateway transaction seen, whatever became of it: the one place that makes a
-- notification, a re-delivery and a status query of the same payment one record.
CREATE TABLE gateway_transactions (
    dedup_key      text        PRIMARY KEY,        -- '<gateway>:<gateway transaction id>'
    gateway        text        NOT NULL,
    transaction_id text        NOT NULL,
    out_trade_no   text        NOT NULL,
    amount_fen     bigint      NOT NULL,
    currency       text        NOT NULL,
    paid_at        timestamptz NOT NULL,
    outcome        text        NOT NULL,           -- payment | exception
    payment_id     text,
    exception_id   text,
    seen_at        timestamptz NOT NULL
);

ALTER TABLE payments
    ADD COLUMN order_id    text,
    ADD COLUMN receipt_no  text UNIQUE,
    ADD COLUMN received_by text,
    ADD COLUMN fee_fen     bigint;

-- Money received that could not be applied automatically: reviewed by finance.
CREATE TABLE payment_exceptions (
    exception_id   text        PRIMARY KEY,
    dedup_key      text        NOT NULL UNIQUE,
    gateway        text        NOT NULL,
    channel        text        NOT NULL,
    transaction_id text        NOT NULL,
    out_trade_no   text        NOT NULL,
    order_id       text,
    community_id   text,
    unit_id        text,
    amount_fen     bigint      NOT NULL,
    currency       text        NOT NULL,
    reason         text        NOT NULL,   -- unknown_order | amount_mismatch | currency | expired_order | already_paid
    detail         text        NOT NULL,
    paid_at        timestamptz NOT NULL,
    created_at     timestamptz NOT NULL,
    status         text        NOT NULL DEFAULT 'open',  -- open | resolved
    resolution     text,                   -- applied | refunded | dismissed
    resolution_note text,
    resolved_by    text,
    resolved_at    timestamptz,
    payment_id     text                    -- the payment made when finance applied it
);
CREATE INDEX payment_exceptions_open ON payment_exceptions (created_at) WHERE status = 'open';

CREATE TABLE refunds (
    refund_id      text        PRIMARY KEY,
    out_refund_no  text        NOT NULL UNIQUE,
    payment_id     text        NOT NULL REFERENCES payments (payment_id),
    amount_fen     bigint      NOT NULL CHECK (amount_fen > 0),
    reason         text        NOT NULL,
    requested_by   text        NOT NULL,
    status         text        NOT NULL,   -- requested | processing | succeeded | failed
    gateway_refund_id text,
    requested_at   timestamptz NOT NULL,
    refunded_at    timestamptz,
    failure        text
);
CREATE INDEX refunds_by_payment ON refunds (payment_id);

-- Receipt numbers of counter payments: one gap-free sequence per community and day.
CREATE TABLE receipt_sequences (
    community_id   text        NOT NULL,
    business_date  date        NOT NULL,
    last_no        integer     NOT NULL,
    PRIMARY KEY (community_id, business_date)
);
