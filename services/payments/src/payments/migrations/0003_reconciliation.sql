-- Reconciliation against gateway statements (对账) and what stays open until a person resolves it.

CREATE TABLE statement_imports (
    gateway        text        NOT NULL,
    bill_date      date        NOT NULL,
    imported_at    timestamptz NOT NULL,
    payments_fen   bigint      NOT NULL,
    refunds_fen    bigint      NOT NULL,
    fee_fen        bigint      NOT NULL,
    matched        integer     NOT NULL,
    PRIMARY KEY (gateway, bill_date)
);

CREATE TABLE discrepancies (
    discrepancy_id text        PRIMARY KEY DEFAULT 'dis-' || gen_random_uuid(),
    gateway        text        NOT NULL,
    bill_date      date        NOT NULL,
    kind           text        NOT NULL,   -- payment | refund
    reference      text        NOT NULL,   -- gateway transaction id or out_refund_no
    result         text        NOT NULL,   -- missing_here | missing_at_gateway | amount_mismatch
    gateway_fen    bigint,
    recorded_fen   bigint,
    found_at       timestamptz NOT NULL,
    status         text        NOT NULL DEFAULT 'open',   -- open | resolved
    note           text,
    resolved_by    text,
    resolved_at    timestamptz,
    UNIQUE (gateway, bill_date, kind, reference)
);
CREATE INDEX discrepancies_open ON discrepancies (bill_date) WHERE status = 'open';
