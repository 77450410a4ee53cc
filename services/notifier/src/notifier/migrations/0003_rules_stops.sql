-- Contact rules per community (quiet hours, reminder cap), what stops queued reminders
-- (a pause, a payment, a promise), cancelled messages, and WeChat delivery pushes.

-- Staff-set per community; a community without a row uses the service's settings.
CREATE TABLE community_contact_rules (
    community_id      text        PRIMARY KEY,
    quiet_start       time        NOT NULL,
    quiet_end         time        NOT NULL,
    reminder_cap      integer     NOT NULL CHECK (reminder_cap >= 1),
    cap_window_days   integer     NOT NULL CHECK (cap_window_days >= 1),
    set_by            text        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (quiet_start <> quiet_end)
);

-- A reminder of this unit (of this case, of a case's invoice) requested before stops_before
-- and not sent yet must not go: dunning paused the case, the household paid, or promised.
CREATE TABLE reminder_stops (
    stop_id      text        PRIMARY KEY,        -- pause_id, payment_id, promise_id
    kind         text        NOT NULL CHECK (kind IN ('pause', 'payment', 'promise')),
    unit_id      text        NOT NULL,
    case_id      text,                           -- NULL: every case of the unit (payment)
    invoice_id   text,                           -- a pause of one disputed invoice
    stops_before timestamptz NOT NULL,
    reason       text        NOT NULL,
    at           timestamptz NOT NULL,           -- when it happened (pause start, payment)
    resumed_at   timestamptz
);
CREATE INDEX reminder_stops_by_unit ON reminder_stops (unit_id);

ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications
    ADD COLUMN cancelled_at timestamptz,
    ADD CONSTRAINT notifications_status_check CHECK (status IN (
        'queued', 'awaiting_contacts', 'sent', 'printing', 'delivered', 'failed',
        'suppressed', 'skipped', 'cancelled'));
