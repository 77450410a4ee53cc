-- Billing's walking-skeleton schema: units, invoices, payments seen, allocations, credit.

CREATE TABLE units (
    unit_id        text        PRIMARY KEY,
    community_id   text        NOT NULL,
    building_id    text        NOT NULL,
    room_label     text        NOT NULL,
    floor_area_m2  numeric(10, 2) NOT NULL CHECK (floor_area_m2 > 0),
    payer_party_id text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoices (
    invoice_id     text        PRIMARY KEY,
    unit_id        text        NOT NULL REFERENCES units (unit_id),
    community_id   text        NOT NULL,
    building_id    text        NOT NULL,
    payer_party_id text        NOT NULL,
    period_start   date        NOT NULL,
    period_end     date        NOT NULL,
    due_date       date        NOT NULL,
    lines          jsonb       NOT NULL,
    total_fen      bigint      NOT NULL CHECK (total_fen >= 0),
    paid_fen       bigint      NOT NULL DEFAULT 0 CHECK (paid_fen >= 0 AND paid_fen <= total_fen),
    status         text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled')),
    issued_at      timestamptz NOT NULL,
    settled_at     timestamptz,
    CHECK (period_end >= period_start)
);
CREATE INDEX invoices_open_by_unit ON invoices (unit_id, due_date) WHERE status = 'open';

-- Every payment billing has seen, once (payment_id is payments' id).
CREATE TABLE payments_received (
    payment_id     text        PRIMARY KEY,
    unit_id        text        NOT NULL,
    community_id   text        NOT NULL,
    payer_party_id text        NOT NULL,
    amount_fen     bigint      NOT NULL CHECK (amount_fen >= 0),
    invoice_ids    text[]      NOT NULL DEFAULT '{}',
    paid_at        timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);

-- Where each fen went: to an invoice, or to the unit's credit (invoice_id NULL).
CREATE TABLE allocations (
    id             bigserial   PRIMARY KEY,
    payment_id     text        NOT NULL,     -- a payment, or 'credit:<unit>' when credit is applied
    unit_id        text        NOT NULL,
    invoice_id     text        REFERENCES invoices (invoice_id),
    amount_fen     bigint      NOT NULL,
    allocated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX allocations_by_payment ON allocations (payment_id);

CREATE TABLE credit_balances (
    unit_id        text        PRIMARY KEY,
    balance_fen    bigint      NOT NULL DEFAULT 0 CHECK (balance_fen >= 0)
);

CREATE TABLE refunds_received (
    refund_id      text        PRIMARY KEY,
    payment_id     text        NOT NULL,
    unit_id        text        NOT NULL,
    amount_fen     bigint      NOT NULL CHECK (amount_fen >= 0),
    reason         text        NOT NULL,
    refunded_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
