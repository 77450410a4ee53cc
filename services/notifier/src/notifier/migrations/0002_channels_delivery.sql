-- Notifier proper: projections of communities and parties (from billing's events), staff
-- preferences, templates, the delivery queue with its proof, receipts, letters, staff tasks.

CREATE TABLE communities (
    community_id   text        PRIMARY KEY,
    company_id     text        NOT NULL,
    company_name   text        NOT NULL,
    name           text        NOT NULL,
    city           text        NOT NULL,
    time_zone      text        NOT NULL DEFAULT 'Asia/Shanghai',
    service_phone  text,
    complaint_line text,
    address        text,
    updated_at     timestamptz NOT NULL
);

-- Personal data (PIPL): read only by the dispatcher and staff endpoints, never logged.
CREATE TABLE parties (
    party_id           text        PRIMARY KEY,
    community_id       text        NOT NULL,
    kind               text        NOT NULL,
    name               text,
    phone              text,
    email              text,
    wechat_openid      text,
    app_user_id        text,
    postal_address     text,
    allowed_channels   text[]      NOT NULL DEFAULT '{}',
    preferred_channels text[]      NOT NULL DEFAULT '{}',
    do_not_contact     boolean     NOT NULL DEFAULT false,
    locale             text        NOT NULL DEFAULT 'zh-CN',
    updated_at         timestamptz NOT NULL
);

-- Preferences set by staff (the person called or wrote in); they win over billing's.
CREATE TABLE party_preferences (
    party_id           text        PRIMARY KEY,
    allowed_channels   text[],
    preferred_channels text[],
    do_not_contact     boolean,
    note               text,
    set_by             text        NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Versioned templates; the highest version of a template_id is the one in use.
CREATE TABLE templates (
    template_id    text        NOT NULL,   -- <message_type>.<stage or *>.<channel>.<locale>
    version        integer     NOT NULL,
    message_type   text        NOT NULL,
    stage          text        NOT NULL DEFAULT '*',
    channel        text        NOT NULL,
    locale         text        NOT NULL,
    subject        text,
    body           text        NOT NULL,
    provider_codes jsonb       NOT NULL DEFAULT '{}',
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ALTER COLUMN body DROP NOT NULL;
ALTER TABLE notifications
    ADD COLUMN requested_channel   text,
    ADD COLUMN essential           boolean     NOT NULL DEFAULT true,
    ADD COLUMN params              jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN template            text,
    ADD COLUMN requested_at        timestamptz,
    ADD COLUMN next_attempt_at     timestamptz,
    ADD COLUMN attempts            integer     NOT NULL DEFAULT 0,
    ADD COLUMN tried_channels      text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN fallback_of         text,
    ADD COLUMN address             text,       -- the contact used (personal data)
    ADD COLUMN subject_line        text,
    ADD COLUMN template_id         text,
    ADD COLUMN template_version    integer,
    ADD COLUMN provider            text,
    ADD COLUMN provider_message_id text,
    ADD COLUMN proof               jsonb,
    ADD COLUMN status_reason       text,
    ADD COLUMN sent_at             timestamptz,
    ADD COLUMN delivered_at        timestamptz,
    ADD COLUMN failed_at           timestamptz,
    ADD COLUMN document            bytea,      -- the print-ready PDF of a letter or notice
    ADD COLUMN batch_id            text,
    ADD COLUMN tracking_number     text;
UPDATE notifications
   SET requested_channel = channel, requested_at = created_at, next_attempt_at = created_at;
ALTER TABLE notifications
    ALTER COLUMN requested_channel SET NOT NULL,
    ALTER COLUMN requested_at SET NOT NULL,
    ADD CONSTRAINT notifications_status_check CHECK (status IN (
        'queued', 'awaiting_contacts', 'sent', 'printing', 'delivered', 'failed',
        'suppressed', 'skipped'));
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'queued';
CREATE INDEX notifications_awaiting ON notifications (party_id) WHERE status = 'awaiting_contacts';
CREATE INDEX notifications_reminders_sent ON notifications (party_id, sent_at)
    WHERE sent_at IS NOT NULL;
CREATE UNIQUE INDEX notifications_by_provider_id ON notifications (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX notifications_to_print ON notifications (created_at)
    WHERE status = 'printing' AND batch_id IS NULL;

-- Delivery receipts (status callbacks) exactly as the providers reported them.
CREATE TABLE delivery_receipts (
    receipt_id          bigserial   PRIMARY KEY,
    provider            text        NOT NULL,
    provider_message_id text        NOT NULL,
    success             boolean     NOT NULL,
    status              text        NOT NULL,
    reported_at         timestamptz,
    raw                 jsonb       NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    applied_at          timestamptz,
    UNIQUE (provider, provider_message_id, status)
);
CREATE INDEX delivery_receipts_unapplied ON delivery_receipts (provider, provider_message_id)
    WHERE applied_at IS NULL;

CREATE TABLE letter_batches (
    batch_id   text        PRIMARY KEY,
    as_of      timestamptz NOT NULL,
    letters    integer     NOT NULL,
    pdf        bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Staff tasks asked of dunning, once per key whatever the number of replays.
CREATE TABLE staff_tasks (
    task_key     text        PRIMARY KEY,
    task_id      text        NOT NULL UNIQUE,
    kind         text        NOT NULL,
    party_id     text        NOT NULL,
    unit_id      text        NOT NULL,
    reason       text        NOT NULL,
    requested_at timestamptz NOT NULL
);
