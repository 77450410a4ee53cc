-- Publish the outbox in COMMIT order per message key, not in id (INSERT) order.
--
-- An outbox id comes from a sequence when the row is inserted; transactions commit in another
-- order. Each transaction that writes outbox rows gets one row in outbox_commit, and at its
-- commit (a deferred constraint trigger, the last thing before COMMIT) a number from
-- outbox_commit_seq. Before taking the number it locks the hash buckets of its message keys
-- (transaction-scoped advisory locks, released only after the commit is visible), so a later
-- transaction with a key in the same bucket can take its number only once the earlier one is
-- visible: per key, number order is commit order, and the relay publishes in (number, id)
-- order. Locks are taken in one order (the shared/exclusive "commit gate" first, then buckets
-- ascending), so commits never wait for each other in a cycle. A bulk transaction (a billing
-- run's COPY of 100,000 events) takes the gate exclusively instead of its buckets: one lock,
-- no scan of its rows, and other writers wait for it only during its commit.

CREATE SEQUENCE outbox_commit_seq;

CREATE TABLE outbox_commit (
    xact_id  xid8   PRIMARY KEY,           -- the writing transaction (pg_current_xact_id())
    seq      bigint UNIQUE,                -- its commit number; NULL until its commit begins
    after_id bigint NOT NULL DEFAULT 0     -- the relay's cursor: its rows up to here are out
);

-- Rows written before this migration carry 0 and are already published, or are adopted below.
ALTER TABLE outbox ADD COLUMN xact_id xid8 NOT NULL DEFAULT '0';
ALTER TABLE outbox ALTER COLUMN xact_id SET DEFAULT pg_current_xact_id();
UPDATE outbox SET xact_id = pg_current_xact_id() WHERE published_at IS NULL;
INSERT INTO outbox_commit (xact_id, seq)
    SELECT pg_current_xact_id(), nextval('outbox_commit_seq')
    WHERE EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL);

-- The relay reads one transaction's pending rows in id order; the commit trigger its keys.
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_pending ON outbox (xact_id, id) WHERE published_at IS NULL;

-- Once per statement that inserts outbox rows: the transaction's outbox_commit row.
CREATE FUNCTION outbox_commit_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_commit (xact_id) VALUES (pg_current_xact_id())
        ON CONFLICT (xact_id) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_commit_open AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_commit_open();

-- At commit, once per transaction: lock its key buckets (or the gate), then take a number.
-- Advisory lock space (7301003, n): n = -1 the gate, 0..1023 the key buckets.
CREATE FUNCTION outbox_commit_seal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    buckets integer[];
    bucket  integer;
BEGIN
    IF coalesce(current_setting('propfee.outbox_bulk', true), '') <> 'on' THEN
        -- Planned for this transaction's id (EXECUTE), matched as a range: after a billing
        -- run the statistics say one transaction has thousands of rows, and a generic plan
        -- of "xact_id = $1" scans the whole table (every published row) at each commit.
        EXECUTE 'SELECT coalesce(array_agg(b ORDER BY b), ''{}'')
                   FROM (SELECT DISTINCT (hashtextextended(message_key, 0) & 1023)::integer AS b
                           FROM outbox
                          WHERE xact_id >= $1 AND xact_id <= $1
                            AND published_at IS NULL) AS keys'
           INTO buckets USING NEW.xact_id;
        IF cardinality(buckets) = 0 THEN  -- the statements inserted no row: nothing to order
            DELETE FROM outbox_commit WHERE xact_id = NEW.xact_id;
            RETURN NULL;
        END IF;
    END IF;
    IF buckets IS NULL OR cardinality(buckets) > 32 THEN
        PERFORM pg_advisory_xact_lock(7301003, -1);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(7301003, -1);
        FOREACH bucket IN ARRAY buckets LOOP
            PERFORM pg_advisory_xact_lock(7301003, bucket);
        END LOOP;
    END IF;
    UPDATE outbox_commit SET seq = nextval('outbox_commit_seq') WHERE xact_id = NEW.xact_id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER outbox_commit_seal AFTER INSERT ON outbox_commit
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION outbox_commit_seal();
