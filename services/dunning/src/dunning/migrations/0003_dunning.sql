-- Dunning proper: policies, stages, escalations, tasks, people's records, pauses, promises,
-- limitation clocks, evidence and KPI snapshots.

-- Whole calendar months from the oldest due date to the as-of date (domain/tiers.py).
CREATE FUNCTION dunning_months_overdue(due date, as_of date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(0, (date_part('year', as_of) * 12 + date_part('month', as_of)
        - date_part('year', due) * 12 - date_part('month', due)
        - CASE WHEN date_part('day', as_of) < date_part('day', due) THEN 1 ELSE 0 END)::integer)
$$;

-- The as-of instant of the sweep running in this transaction (set with set_config).
CREATE FUNCTION sweep_as_of() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT current_setting('dunning.sweep_as_of')::timestamptz $$;

ALTER TABLE receivables
    ADD COLUMN room_label text,
    ADD COLUMN limitation_expires_on date;
CREATE INDEX receivables_open_unit_due ON receivables (unit_id, due_date) WHERE issued AND NOT settled;

ALTER TABLE arrears_cases
    ADD COLUMN stage text,
    ADD COLUMN stage_index integer NOT NULL DEFAULT -1,
    ADD COLUMN stage_entered_at timestamptz,
    ADD COLUMN tier text,
    ADD COLUMN outstanding_fen bigint NOT NULL DEFAULT 0,
    ADD COLUMN oldest_due_date date,
    ADD COLUMN room_label text,
    ADD COLUMN owner_staff_id text,
    ADD COLUMN assigned_to text,
    ADD COLUMN assigned_role text,
    ADD COLUMN deferred_until timestamptz,
    ADD COLUMN deferred_reason text,
    ADD COLUMN close_reason text;
CREATE INDEX arrears_cases_assigned ON arrears_cases (assigned_to) WHERE status = 'open';
CREATE INDEX arrears_cases_owner ON arrears_cases (owner_staff_id) WHERE status = 'open';

-- A policy: the validated document plus the columns the sweep needs.
CREATE TABLE policies (
    policy_id              text PRIMARY KEY,
    time_zone              text    NOT NULL,
    reminder_cap           integer NOT NULL,
    reminder_cap_window_days integer NOT NULL,
    hold_timeout_hours     integer NOT NULL,
    promise_grace_days     integer NOT NULL,
    monthly_reminder_day   integer,
    monthly_reminder_actions jsonb NOT NULL DEFAULT '[]',
    red_months             integer NOT NULL,
    red_amount_fen         bigint  NOT NULL,
    yellow_months          integer NOT NULL,
    green_months           integer NOT NULL,
    red_case_owner         text,
    document               jsonb   NOT NULL,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE policy_stages (
    policy_id          text    NOT NULL REFERENCES policies ON DELETE CASCADE,
    idx                integer NOT NULL,
    code               text    NOT NULL,
    anchor             text    NOT NULL,
    offset_days        integer NOT NULL,
    min_gap_days       integer NOT NULL,
    min_months_overdue integer NOT NULL,
    expires_after_days integer,
    automatic          boolean NOT NULL,
    sends_messages     boolean NOT NULL,
    requires_demand    boolean NOT NULL,
    red_only           boolean NOT NULL,
    deadline_days      integer,
    actions            jsonb   NOT NULL,   -- [{kind, channel, template}] as published
    PRIMARY KEY (policy_id, idx),
    UNIQUE (policy_id, code)
);
-- Which policy a community follows; communities not listed follow 'default'.
CREATE TABLE community_policies (
    community_id text PRIMARY KEY,
    policy_id    text NOT NULL REFERENCES policies
);

-- Every escalation and recurring reminder; the unique key stops double escalation.
CREATE TABLE escalations (
    escalation_id   bigserial   PRIMARY KEY,
    case_id         text        NOT NULL,
    stage           text        NOT NULL,
    cycle           text        NOT NULL DEFAULT '',   -- '' for the ladder, 'YYYY-MM' monthly
    previous_stage  text,
    community_id    text        NOT NULL,
    unit_id         text        NOT NULL,
    payer_party_id  text        NOT NULL,
    tier            text        NOT NULL,
    outstanding_fen bigint      NOT NULL,
    oldest_due_date date        NOT NULL,
    invoice_ids     text[]      NOT NULL,
    actions         jsonb       NOT NULL,
    reminder        boolean     NOT NULL,   -- sent messages: counts towards the cap
    deadline        date,
    staff_id        text,
    escalated_at    timestamptz NOT NULL,
    UNIQUE (case_id, stage, cycle)
);
CREATE INDEX escalations_payer_time ON escalations (payer_party_id, escalated_at) WHERE reminder;
CREATE INDEX escalations_time ON escalations (escalated_at);

CREATE TABLE tasks (
    task_id          text        PRIMARY KEY,
    dedup_key        text        NOT NULL UNIQUE,
    case_id          text,
    community_id     text        NOT NULL,
    unit_id          text        NOT NULL,
    kind             text        NOT NULL,
    stage            text,
    reason           text        NOT NULL,
    source           text        NOT NULL,   -- sweep | notifier | promise | limitation | staff
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    assignee         text,
    window_start     timestamptz,
    window_end       timestamptz,
    due_on           date,
    notifier_task_id text,
    created_at       timestamptz NOT NULL,
    completed_at     timestamptz
);
CREATE INDEX tasks_open_assignee ON tasks (assignee) WHERE status = 'open';
CREATE INDEX tasks_case ON tasks (case_id);

CREATE TABLE contact_outcomes (
    outcome_id  text        PRIMARY KEY,
    case_id     text        NOT NULL,
    task_id     text,
    kind        text        NOT NULL CHECK (kind IN ('call', 'visit')),
    reason_code text        NOT NULL CHECK (reason_code IN ('forgot', 'hardship',
        'unhappy_with_service', 'property_quality', 'landlord_tenant_dispute', 'refuses',
        'unreachable', 'paid_elsewhere', 'other')),
    note        text,
    staff_id    text        NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX contact_outcomes_case ON contact_outcomes (case_id);

CREATE TABLE case_notes (
    note_id  bigserial   PRIMARY KEY,
    case_id  text        NOT NULL,
    staff_id text        NOT NULL,
    body     text        NOT NULL,
    at       timestamptz NOT NULL
);

CREATE TABLE promises (
    promise_id    text        PRIMARY KEY,
    case_id       text        NOT NULL,
    amount_fen    bigint      NOT NULL CHECK (amount_fen >= 0),
    promised_date date        NOT NULL,
    signed        boolean     NOT NULL,   -- a signed promise is an acknowledgement of the debt
    staff_id      text        NOT NULL,
    recorded_at   timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'kept', 'broken')),
    closed_at     timestamptz
);
CREATE INDEX promises_open ON promises (case_id) WHERE status = 'open';

CREATE TABLE pauses (
    pause_id    text        PRIMARY KEY,
    case_id     text        NOT NULL,
    scope       text        NOT NULL CHECK (scope IN ('case', 'invoice')),
    invoice_id  text,
    reason      text        NOT NULL CHECK (reason IN ('service_complaint', 'hardship_plan',
        'installment_plan', 'legal_proceeding', 'property_quality', 'landlord_tenant_dispute',
        'other')),
    owner       text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    note        text,
    plan_id     text UNIQUE,
    resolved_at timestamptz,
    resolution  text,
    CHECK (scope = 'case' OR invoice_id IS NOT NULL),
    CHECK (ends_at > starts_at)
);
CREATE INDEX pauses_case ON pauses (case_id) WHERE resolved_at IS NULL;
CREATE INDEX pauses_invoice ON pauses (invoice_id) WHERE resolved_at IS NULL AND scope = 'invoice';

CREATE TABLE installment_plans (
    plan_id     text        PRIMARY KEY,
    unit_id     text        NOT NULL,
    community_id text       NOT NULL,
    payer_party_id text     NOT NULL,
    invoice_ids text[]      NOT NULL,
    total_fen   bigint      NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'missed', 'done'))
);
CREATE TABLE installment_parts (
    plan_id    text    NOT NULL REFERENCES installment_plans,
    part_no    integer NOT NULL,
    due_date   date    NOT NULL,
    amount_fen bigint  NOT NULL,
    PRIMARY KEY (plan_id, part_no)
);

-- Demands with a deadline (legal_demand and any stage with deadline_days).
CREATE TABLE demands (
    case_id   text        NOT NULL,
    stage     text        NOT NULL,
    deadline  date        NOT NULL,
    issued_at timestamptz NOT NULL,
    PRIMARY KEY (case_id, stage)
);

-- Letters sent by EMS or by hand, recorded by staff with their tracking numbers.
CREATE TABLE letters (
    letter_id    text        PRIMARY KEY,
    case_id      text        NOT NULL,
    stage        text        NOT NULL,
    carrier      text        NOT NULL,
    tracking_no  text        NOT NULL,
    sent_at      timestamptz NOT NULL,
    delivered_at timestamptz,
    signed_by    text,
    staff_id     text        NOT NULL
);

-- What restarted each invoice's limitation clock (the clock itself is on receivables).
CREATE TABLE limitation_restarts (
    invoice_id text NOT NULL,
    kind       text NOT NULL,
    on_date    date NOT NULL,
    source_id  text NOT NULL,
    PRIMARY KEY (invoice_id, kind, source_id)
);

CREATE TABLE tier_snapshots (
    as_of_date      date    NOT NULL,
    community_id    text    NOT NULL,
    tier            text    NOT NULL,
    cases           integer NOT NULL,
    outstanding_fen bigint  NOT NULL,
    PRIMARY KEY (as_of_date, community_id, tier)
);

CREATE TABLE sweeps (
    sweep_id    bigserial   PRIMARY KEY,
    as_of       timestamptz NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    result      jsonb
);
