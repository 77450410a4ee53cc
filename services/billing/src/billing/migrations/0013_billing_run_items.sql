-- A billing run split into work items (issue 22): a chunk of the community's units each, in
-- unit_id order (after_unit_id, last_unit_id]; the last item has no upper bound. Any billing
-- replica claims a pending item with FOR UPDATE SKIP LOCKED and bills it in the same
-- transaction as the claim: its invoices, lines, billed months and InvoiceIssued events commit
-- with the item marked done, or not at all (a crashed replica's transaction rolls back and the
-- item is pending again, claimable by another). A unit is billed once per fee item and month:
-- billed_months' primary key, read before billing.
-- The run's own row counts what its items did; state: running (items pending), done, failed
-- (done, and at least one item refused: its error is kept on the item).
ALTER TABLE billing_runs
    ADD COLUMN state text NOT NULL DEFAULT 'done' CHECK (state IN ('running', 'done', 'failed')),
    ADD COLUMN items_total integer NOT NULL DEFAULT 1,
    ADD COLUMN items_done integer NOT NULL DEFAULT 1,
    ADD COLUMN items_failed integer NOT NULL DEFAULT 0;

CREATE TABLE billing_run_items (
    run_id         text        NOT NULL REFERENCES billing_runs,
    item_no        integer     NOT NULL,
    community_id   text        NOT NULL,
    after_unit_id  text        NOT NULL,  -- units with unit_id > after_unit_id
    last_unit_id   text,                  -- ... and <= last_unit_id (NULL: no bound)
    units          integer     NOT NULL,  -- when the run was created
    state          text        NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'done', 'failed')),
    invoices       integer     NOT NULL DEFAULT 0,
    total_fen      bigint      NOT NULL DEFAULT 0,
    skipped        integer     NOT NULL DEFAULT 0,
    attempts       integer     NOT NULL DEFAULT 0,  -- claims that raised (not refusals)
    error          text,
    done_at        timestamptz,
    PRIMARY KEY (run_id, item_no)
);
CREATE INDEX billing_run_items_pending ON billing_run_items (run_id, item_no)
    WHERE state = 'pending';

-- Each unit's share of the shared meters a run bills, split by floor area when the run is
-- created (the readings are marked billed by the run then); taken (deleted) by the item that
-- bills the unit.
CREATE TABLE billing_run_shares (
    run_id         text        NOT NULL REFERENCES billing_runs,
    unit_id        text        NOT NULL,
    item_code      text        NOT NULL,
    quantity       numeric     NOT NULL,
    description    text        NOT NULL,
    amount_fen     bigint
);
CREATE INDEX billing_run_shares_by_unit ON billing_run_shares (run_id, unit_id);
