-- Issue 21: the dispatcher holds no transaction across a provider call. A message is claimed
-- in a short transaction ('sending', with who claimed it and until when: a lease on the wall
-- clock), sent outside any transaction, and its outcome recorded in a transaction of its own.
-- A claim whose lease ran out (the process died between the provider call and the recording)
-- is never resent blindly: the provider is asked (Alibaba QuerySendDetails by OutId), or it
-- deduplicates (the push gateway's Idempotency-Key), or the message becomes 'unknown' and
-- staff are asked to review it (a review_delivery task).
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications
    ADD COLUMN claimed_by  text,
    ADD COLUMN claimed_at  timestamptz,  -- wall clock (the database's) at the claim
    ADD COLUMN lease_until timestamptz,  -- wall clock: past it, the claim is recovered
    ADD COLUMN decided_at  timestamptz,  -- the as-of instant the send was decided at
    ADD CONSTRAINT notifications_status_check CHECK (status IN (
        'queued', 'awaiting_contacts', 'sending', 'sent', 'printing', 'posted', 'delivered',
        'failed', 'suppressed', 'skipped', 'cancelled', 'unknown'));

CREATE INDEX notifications_leases ON notifications (lease_until) WHERE status = 'sending';
CREATE INDEX notifications_unknown ON notifications (community_id) WHERE status = 'unknown';
