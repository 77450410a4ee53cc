-- Issue 22: a sweep is split into work items that any dunning replica claims
-- (FOR UPDATE SKIP LOCKED), each committed in its own transaction.
--
-- An item is a range of payer slots, not of communities or case ids: the rules of one person
-- (issue 18 rule 12: the reminder cap counts the person, one combined reminder per occasion)
-- span every case of that payer, so all of a payer's cases are judged by one item, in one
-- transaction, as the single-transaction sweep judged them.

-- A payer's slot (0..4095): stable, so a payer's cases always fall in one item.
CREATE FUNCTION dunning_payer_slot(payer text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT hashtext(payer) & 4095 $$;

CREATE INDEX arrears_cases_open_by_payer_slot ON arrears_cases (dunning_payer_slot(payer_party_id))
    WHERE status = 'open';

-- A sweep is now a run: planned (its items written) when requested, finished when its last
-- item is done (``finished_at``, ``result``: the sum of its items').
ALTER TABLE sweeps ADD COLUMN items_total integer NOT NULL DEFAULT 0;

-- One item of a sweep: payers whose slot is in [slot_from, slot_to). ``pending`` until one
-- transaction has done its work and marked it ``done``; a replica that dies mid-item holds
-- nothing (its transaction, and the row lock of its claim, end with its connection), so the
-- item is claimed again. ``failed`` after ``attempts`` errors (the sweep finishes without it,
-- counted in its errors).
CREATE TABLE sweep_items (
    sweep_id    bigint      NOT NULL REFERENCES sweeps ON DELETE CASCADE,
    item_no     integer     NOT NULL,
    slot_from   integer     NOT NULL,
    slot_to     integer     NOT NULL,
    state       text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    done_by     text,
    finished_at timestamptz,
    result      jsonb,
    PRIMARY KEY (sweep_id, item_no)
);
CREATE INDEX sweep_items_pending ON sweep_items (sweep_id, item_no) WHERE state = 'pending';
