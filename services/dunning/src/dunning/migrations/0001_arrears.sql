-- Dunning's walking-skeleton schema: a read model of what each household owes, built only
-- from events in any order, and the arrears cases over it.

CREATE TABLE receivables (
    invoice_id     text        PRIMARY KEY,
    unit_id        text        NOT NULL,
    community_id   text        NOT NULL,
    payer_party_id text        NOT NULL,
    due_date       date,                  -- NULL until InvoiceIssued arrives
    total_fen      bigint,
    issued         boolean     NOT NULL DEFAULT false,
    settled        boolean     NOT NULL DEFAULT false,
    settled_at     timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX receivables_open_by_unit ON receivables (unit_id) WHERE issued AND NOT settled;

CREATE TABLE arrears_cases (
    case_id        text        PRIMARY KEY,
    unit_id        text        NOT NULL,
    community_id   text        NOT NULL,
    payer_party_id text        NOT NULL,
    status         text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    on_hold        boolean     NOT NULL DEFAULT false,  -- a payment is on its way: remind nobody
    hold_payment_id text,
    hold_since     timestamptz,
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz
);
-- At most one open case per household.
CREATE UNIQUE INDEX arrears_cases_one_open ON arrears_cases (unit_id) WHERE status = 'open';

CREATE TABLE payments_seen (
    payment_id     text        PRIMARY KEY,
    unit_id        text        NOT NULL,
    amount_fen     bigint      NOT NULL,
    paid_at        timestamptz NOT NULL,
    seen_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refunds_seen (
    refund_id      text        PRIMARY KEY,
    payment_id     text        NOT NULL,
    unit_id        text        NOT NULL,
    amount_fen     bigint      NOT NULL,
    refunded_at    timestamptz NOT NULL
);

-- Proof of delivery (or failure) of messages, kept as evidence for the case.
CREATE TABLE contact_evidence (
    notification_id text       NOT NULL,
    outcome        text        NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    unit_id        text        NOT NULL,
    party_id       text        NOT NULL,
    channel        text        NOT NULL,
    message_type   text        NOT NULL,
    subject_id     text        NOT NULL,
    stage          text,
    at             timestamptz NOT NULL,
    detail         jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (notification_id, outcome)
);
