-- Issue 23: the workbench's bulk "print letters" as a background job with progress. The
-- batch's letters are gathered at once (as POST /letters/batches does: same scope, same
-- audit); its PDF is rendered afterwards by the notifier process's print worker, a chunk of
-- letters per transaction (claimed FOR UPDATE SKIP LOCKED, so any replica may do it, and a
-- chunk lost with its process is claimed again), and joined into the batch's PDF by the
-- chunk that renders the last letters. Until then the batch has no PDF.
ALTER TABLE letter_batches ALTER COLUMN pdf DROP NOT NULL;

CREATE TABLE letter_print_jobs (
    job_id        text        PRIMARY KEY,
    batch_id      text        REFERENCES letter_batches (batch_id),  -- null: no letters
    company_id    text,                                              -- the requester's
    community_ids text[]      NOT NULL DEFAULT '{}',
    requested_by  text        NOT NULL,
    total         integer     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);

-- One row per letter of the job, in the batch's order. A chunk is rendered as one PDF, kept
-- on its first item (``part``); every item of the chunk is then ``done``.
CREATE TABLE letter_print_job_items (
    job_id          text        NOT NULL REFERENCES letter_print_jobs (job_id),
    item_no         integer     NOT NULL,
    notification_id text        NOT NULL,
    done            boolean     NOT NULL DEFAULT false,
    part            bytea,
    done_by         text,
    finished_at     timestamptz,
    PRIMARY KEY (job_id, item_no)
);

CREATE INDEX letter_print_job_items_pending ON letter_print_job_items (job_id, item_no)
    WHERE NOT done;
