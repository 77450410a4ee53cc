-- Issue 17, rule 5: dunning publishes each invoice's limitation clock
-- (dunning.limitation-clock-changed). The clock's published state is kept beside the clock:
-- the due date it ran from, the restart that last moved it, and its version (0: never
-- published; it grows by one with every change; billing keeps the highest).
ALTER TABLE receivables
    ADD COLUMN limitation_clock_due_date date,
    ADD COLUMN limitation_last_restart_on date,
    ADD COLUMN limitation_clock_version integer NOT NULL DEFAULT 0;

-- No index on the version: the boot backfill walks the primary key once, and an index would
-- make every clock change a non-HOT update of receivables.
