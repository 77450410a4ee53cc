-- Late-fee waivers with approval (issue 23, the finance screen): whoever works with owners
-- asks (a housekeeper, customer service, a fee clerk ...), someone else with the power to
-- forgive money decides. An approval applies the waiver through the same service function as
-- POST /invoices/{id}/late-fee-waivers (same cap, same account replay, same audit), with the
-- decider as approver; its waiver_id is kept here. A decided request is never decided again.
-- The row is its community's (company through communities): listed per community.
CREATE TABLE late_fee_waiver_requests (
    request_id     text        PRIMARY KEY,
    invoice_id     text        NOT NULL REFERENCES invoices,
    unit_id        text        NOT NULL,
    community_id   text        NOT NULL REFERENCES communities,
    amount_fen     bigint      NOT NULL CHECK (amount_fen > 0),
    reason         text        NOT NULL CHECK (reason <> ''),
    requested_by   text        NOT NULL CHECK (requested_by <> ''),
    requested_at   timestamptz NOT NULL DEFAULT now(),
    status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by     text,
    decided_at     timestamptz,
    decision_note  text,
    waiver_id      text,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX late_fee_waiver_requests_by_community
    ON late_fee_waiver_requests (community_id, status, requested_at, request_id);
CREATE INDEX late_fee_waiver_requests_by_invoice ON late_fee_waiver_requests (invoice_id);
