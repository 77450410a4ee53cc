-- Notifier's walking-skeleton schema: one row per message to send, exactly once per
-- (subject, message type, stage, channel).

CREATE TABLE notifications (
    notification_id text        PRIMARY KEY,
    dedup_key       text        NOT NULL UNIQUE,
    community_id    text        NOT NULL,
    unit_id         text        NOT NULL,
    party_id        text        NOT NULL,
    channel         text        NOT NULL,
    message_type    text        NOT NULL,
    subject_id      text        NOT NULL,
    stage           text,
    body            text        NOT NULL,      -- the exact text to send
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sent', 'delivered', 'failed')),
    source_event_id uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_by_unit ON notifications (unit_id, created_at);
