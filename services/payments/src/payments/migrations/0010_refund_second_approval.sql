-- Refunds above a threshold need a second person (issue 23, the finance screen;
-- PAYMENTS_REFUND_SECOND_APPROVAL_OVER_FEN, default 50,000 fen = 500 yuan). Such a refund is
-- recorded as 'pending_approval' and moves no money (no gateway call, no event; every sum of
-- money refunded counts 'succeeded' only) while it keeps its amount reserved against the
-- payment like any refund not failed. Another member of staff approves it (it then runs the
-- path every refund runs: confirmed at once at the counter, asked at the gateway otherwise) or
-- rejects it ('rejected': the amount is free again).
-- requested_subject: the token's subject of whoever asked (requested_by is a free name the
-- client may give); the approver must be another subject. NULL on refunds from before.
ALTER TABLE refunds
    ADD COLUMN requested_subject text,
    ADD COLUMN decided_by        text,
    ADD COLUMN decided_at        timestamptz,
    ADD COLUMN decision_note     text;
-- status: requested | processing | succeeded | failed | review | pending_approval | rejected
CREATE INDEX refunds_pending_approval ON refunds (requested_at, refund_id)
    WHERE status = 'pending_approval';
