-- Issue 23 (the console's workbench): bulk actions across pages run as background jobs.
--
-- A job is created with its selection (one item per case) and worked by any dunning replica:
-- a worker claims a chunk of pending items (FOR UPDATE SKIP LOCKED), does each through the
-- same use case as the single-case route (casework.assign_case), marks them done and commits
-- the chunk. A replica that dies mid-chunk holds nothing (its transaction and row locks end
-- with its connection), so the chunk is claimed again. Doing an item again changes nothing
-- (an assignment to the same person is a no-op, not audited twice).
--
-- Whose is this row? The requester's company (company_id) and, for a token limited to some
-- communities, those communities (community_ids): GET /jobs/{job_id} answers 404 outside.
-- The requester's claims (principal) are kept so that each item is done with the rights of
-- the person who asked, not the worker's.
CREATE TABLE bulk_jobs (
    job_id        text        PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind IN ('assign_cases')),
    company_id    text        NOT NULL,
    community_ids text[],
    requested_by  text        NOT NULL,
    principal     jsonb       NOT NULL,
    params        jsonb       NOT NULL,
    items_total   integer     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX bulk_jobs_unfinished ON bulk_jobs (created_at) WHERE finished_at IS NULL;

CREATE TABLE bulk_job_items (
    job_id      text        NOT NULL REFERENCES bulk_jobs ON DELETE CASCADE,
    item_no     integer     NOT NULL,
    subject_id  text        NOT NULL,
    state       text        NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'done', 'failed')),
    changed     boolean,
    error       text,
    done_by     text,
    finished_at timestamptz,
    PRIMARY KEY (job_id, item_no),
    UNIQUE (job_id, subject_id)
);
CREATE INDEX bulk_job_items_pending ON bulk_job_items (job_id, item_no) WHERE state = 'pending';
