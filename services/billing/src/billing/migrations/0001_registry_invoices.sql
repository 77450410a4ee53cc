-- Billing: the registry, fee schedules, billing runs, invoices, the account journal.
-- Money is integer fen (bigint); rates keep sub-fen precision (numeric).

CREATE TABLE companies (
    company_id     text        PRIMARY KEY,
    name           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE communities (
    community_id        text        PRIMARY KEY,
    company_id          text        NOT NULL REFERENCES companies,
    name                text        NOT NULL,
    city                text        NOT NULL,
    time_zone           text        NOT NULL DEFAULT 'Asia/Shanghai',
    contract_mode       text        NOT NULL DEFAULT 'flat_fee'
                        CHECK (contract_mode IN ('flat_fee', 'cost_plus')),
    contract_end        date,
    -- 违约金 only where the contract sets a rate (NULL: no late fee at all).
    late_fee_daily_rate numeric(12, 8) CHECK (late_fee_daily_rate >= 0),
    late_fee_annual_cap numeric(8, 6) NOT NULL DEFAULT 0.039,
    allocation_order    text        NOT NULL DEFAULT 'owner_friendly'
                        CHECK (allocation_order IN ('owner_friendly', 'civil_code_561')),
    prepay_quarterly    numeric(5, 4) NOT NULL DEFAULT 0.05,
    prepay_half_yearly  numeric(5, 4) NOT NULL DEFAULT 0.08,
    prepay_yearly       numeric(5, 4) NOT NULL DEFAULT 0.12,
    advance_cap_months  integer     NOT NULL DEFAULT 12 CHECK (advance_cap_months BETWEEN 0 AND 36),
    service_phone       text,
    complaint_line      text,
    address             text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Local rules on vacant homes, per city: after N months of registered vacancy, pay a share.
CREATE TABLE vacancy_rules (
    city           text        PRIMARY KEY,
    after_months   integer     NOT NULL CHECK (after_months > 0),
    payable_share  numeric(5, 4) NOT NULL CHECK (payable_share > 0 AND payable_share <= 1)
);

CREATE TABLE buildings (
    building_id    text        PRIMARY KEY,
    community_id   text        NOT NULL REFERENCES communities,
    name           text        NOT NULL,
    UNIQUE (community_id, name)
);

CREATE TABLE units (
    unit_id        text        PRIMARY KEY,
    community_id   text        NOT NULL REFERENCES communities,
    building_id    text        NOT NULL REFERENCES buildings,
    entrance       text,
    room           text        NOT NULL,
    unit_key       text        NOT NULL,   -- building/entrance/room, unique in the community
    unit_type      text        NOT NULL
                   CHECK (unit_type IN ('residential', 'shop', 'office', 'parking', 'storage')),
    floor_area_m2  numeric(10, 2) NOT NULL CHECK (floor_area_m2 > 0),
    status         text        NOT NULL CHECK (status IN ('occupied', 'vacant', 'unsold')),
    handover_date  date,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (community_id, unit_key)
);
CREATE INDEX units_by_community ON units (community_id, unit_id);

-- Contact data is personal: served masked by the API, never logged.
CREATE TABLE parties (
    party_id           text        PRIMARY KEY,
    community_id       text        NOT NULL REFERENCES communities,
    kind               text        NOT NULL CHECK (kind IN ('owner', 'tenant', 'developer', 'company')),
    name               text,
    phone              text,
    email              text,
    wechat_openid      text,
    app_user_id        text,
    postal_address     text,
    allowed_channels   text[]      NOT NULL DEFAULT '{}',
    preferred_channels text[]      NOT NULL DEFAULT '{}',
    do_not_contact     boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Who is tied to a unit and who pays it, over time (物业管理条例 art. 41): the owner stays
-- liable when a tenant pays; the developer pays unsold units up to the month of handover.
CREATE TABLE unit_parties (
    unit_id        text        NOT NULL REFERENCES units,
    party_id       text        NOT NULL REFERENCES parties,
    role           text        NOT NULL CHECK (role IN ('owner', 'tenant', 'developer')),
    pays           boolean     NOT NULL,
    valid_from     date        NOT NULL,
    valid_to       date,
    PRIMARY KEY (unit_id, party_id, role, valid_from),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE TABLE parking_spaces (
    community_id   text        NOT NULL REFERENCES communities,
    space_id       text        NOT NULL,
    unit_id        text        NOT NULL REFERENCES units,
    PRIMARY KEY (community_id, space_id)
);

CREATE INDEX parking_spaces_by_unit ON parking_spaces (unit_id);

CREATE TABLE vacancies (
    unit_id        text        NOT NULL REFERENCES units,
    registered_on  date        NOT NULL,
    ended_on       date,
    PRIMARY KEY (unit_id, registered_on)
);

-- 明码标价: published, versioned, never edited.
CREATE TABLE fee_schedules (
    schedule_id    text        PRIMARY KEY,
    community_id   text        NOT NULL REFERENCES communities,
    version        integer     NOT NULL CHECK (version > 0),
    published_on   date        NOT NULL,
    effective_from date        NOT NULL,
    approval_ref   text        NOT NULL CHECK (approval_ref <> ''),
    pricing_type   text        NOT NULL,
    service_level  text        NOT NULL DEFAULT '',
    legal_basis    text        NOT NULL DEFAULT '',
    complaint_line text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (community_id, version),
    CHECK (effective_from >= published_on + 30)
);

CREATE TABLE fee_items (
    schedule_id    text        NOT NULL REFERENCES fee_schedules,
    code           text        NOT NULL,
    name           text        NOT NULL,
    kind           text        NOT NULL
                   CHECK (kind IN ('area', 'fixed', 'parking', 'metered', 'shared_meter', 'one_off')),
    unit_type      text        NOT NULL DEFAULT '*',
    rate_fen       numeric(14, 4) NOT NULL CHECK (rate_fen >= 0),
    pass_through   boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (schedule_id, code, unit_type)
);

CREATE TABLE meter_readings (
    unit_id        text        NOT NULL REFERENCES units,
    item_code      text        NOT NULL,
    period_month   date        NOT NULL,
    previous       numeric(14, 3) NOT NULL,
    current        numeric(14, 3) NOT NULL,
    PRIMARY KEY (unit_id, item_code, period_month),
    CHECK (current >= previous)
);

CREATE TABLE shared_meter_readings (
    community_id   text        NOT NULL REFERENCES communities,
    building_id    text        NOT NULL DEFAULT '*',   -- '*': the whole community
    item_code      text        NOT NULL,
    period_month   date        NOT NULL,
    quantity       numeric(14, 3) NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (community_id, building_id, item_code, period_month)
);

CREATE TABLE one_off_charges (
    charge_id      text        PRIMARY KEY,
    unit_id        text        NOT NULL REFERENCES units,
    item_code      text        NOT NULL,
    quantity       numeric(14, 4) NOT NULL CHECK (quantity >= 0),
    description    text        NOT NULL DEFAULT '',
    period_month   date        NOT NULL
);
CREATE INDEX one_off_charges_by_unit ON one_off_charges (unit_id, period_month);

CREATE TABLE billing_runs (
    run_id         text        PRIMARY KEY,
    community_id   text        NOT NULL REFERENCES communities,
    period_start   date        NOT NULL,
    period_end     date        NOT NULL,
    cycle          text        NOT NULL,
    as_of          date        NOT NULL,
    issued_at      timestamptz NOT NULL,
    invoices       integer     NOT NULL,
    total_fen      bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (community_id, period_start, period_end, cycle)
);

CREATE TABLE invoices (
    invoice_id          text        PRIMARY KEY,
    community_id        text        NOT NULL REFERENCES communities,
    building_id         text        NOT NULL,
    unit_id             text        NOT NULL REFERENCES units,
    payer_party_id      text        NOT NULL,
    liable_party_id     text,       -- the owner, jointly liable when a tenant pays
    run_id              text        REFERENCES billing_runs,
    kind                text        NOT NULL DEFAULT 'regular'
                        CHECK (kind IN ('regular', 'opening_arrears', 'manual')),
    period_start        date        NOT NULL,
    period_end          date        NOT NULL,
    due_date            date        NOT NULL,
    schedule_version    integer,
    total_fen           bigint      NOT NULL CHECK (total_fen >= 0),
    principal_paid_fen  bigint      NOT NULL DEFAULT 0,
    late_fee_paid_fen   bigint      NOT NULL DEFAULT 0,
    late_fee_waived_fen bigint      NOT NULL DEFAULT 0,
    late_fee_fixed_fen  bigint,
    status              text        NOT NULL DEFAULT 'issued'
                        CHECK (status IN ('issued', 'partially_paid', 'paid', 'void', 'written_off')),
    issued_at           timestamptz NOT NULL,
    settled_at          timestamptz,
    voided_at           timestamptz,
    void_reason         text,
    credit_note_no      text,
    written_off_at      timestamptz,
    write_off_reason    text,
    version             integer     NOT NULL DEFAULT 1,
    CHECK (period_end >= period_start),
    CHECK (principal_paid_fen BETWEEN 0 AND total_fen)
);
CREATE INDEX invoices_by_unit ON invoices (unit_id, due_date);
CREATE INDEX invoices_by_community_period ON invoices (community_id, period_start);

CREATE TABLE invoice_lines (
    invoice_id     text        NOT NULL REFERENCES invoices,
    line_no        integer     NOT NULL,
    fee_item       text        NOT NULL,
    description    text        NOT NULL,
    quantity       numeric(16, 4) NOT NULL,
    unit_price_fen numeric(14, 4) NOT NULL,
    amount_fen     bigint      NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

-- Facts from payments, each once.
CREATE TABLE payments_received (
    payment_id     text        PRIMARY KEY,
    unit_id        text        NOT NULL,
    community_id   text        NOT NULL,
    payer_party_id text        NOT NULL,
    amount_fen     bigint      NOT NULL CHECK (amount_fen >= 0),
    invoice_ids    text[]      NOT NULL DEFAULT '{}',
    channel        text        NOT NULL,
    paid_at        timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_received_by_unit ON payments_received (unit_id);

CREATE TABLE refunds_received (
    refund_id      text        PRIMARY KEY,
    payment_id     text        NOT NULL,
    unit_id        text        NOT NULL,
    amount_fen     bigint      NOT NULL CHECK (amount_fen >= 0),
    reason         text        NOT NULL,
    refunded_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_received_by_unit ON refunds_received (unit_id);

-- Waivers need a reason and an approver; this table is their audit trail.
CREATE TABLE late_fee_waivers (
    waiver_id      text        PRIMARY KEY,
    invoice_id     text        NOT NULL REFERENCES invoices,
    unit_id        text        NOT NULL,
    amount_fen     bigint      NOT NULL CHECK (amount_fen > 0),
    reason         text        NOT NULL CHECK (reason <> ''),
    approved_by    text        NOT NULL CHECK (approved_by <> ''),
    waived_at      timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The account journal (every move of money between a payment and an invoice, reversals
-- negative) and the credit left per payment: rebuilt by replaying the unit's facts.
CREATE TABLE allocations (
    unit_id        text        NOT NULL,
    seq            integer     NOT NULL,
    payment_id     text        NOT NULL,
    invoice_id     text        NOT NULL,
    component      text        NOT NULL CHECK (component IN ('principal', 'late_fee')),
    amount_fen     bigint      NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (unit_id, seq)
);
CREATE INDEX allocations_by_invoice ON allocations (invoice_id);

CREATE TABLE account_credits (
    unit_id        text        NOT NULL,
    payment_id     text        NOT NULL,
    credit_fen     bigint      NOT NULL CHECK (credit_fen > 0),
    PRIMARY KEY (unit_id, payment_id)
);

-- Receipts numbered without gaps per community and year.
CREATE TABLE receipt_counters (
    community_id   text        NOT NULL,
    year           integer     NOT NULL,
    last_seq       integer     NOT NULL,
    PRIMARY KEY (community_id, year)
);

CREATE TABLE receipts (
    receipt_no     text        PRIMARY KEY,
    community_id   text        NOT NULL,
    year           integer     NOT NULL,
    seq            integer     NOT NULL,
    payment_id     text        NOT NULL UNIQUE,
    unit_id        text        NOT NULL,
    payer_party_id text        NOT NULL,
    amount_fen     bigint      NOT NULL,
    channel        text        NOT NULL,
    paid_at        timestamptz NOT NULL,
    UNIQUE (community_id, year, seq)
);

CREATE TABLE e_invoice_requests (
    request_id     text        PRIMARY KEY,
    payment_id     text        NOT NULL,
    unit_id        text        NOT NULL,
    title          text        NOT NULL,
    tax_id         text,
    email          text,
    status         text        NOT NULL DEFAULT 'requested'
                   CHECK (status IN ('requested', 'issued', 'failed')),
    note           text,
    requested_at   timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE installment_plans (
    plan_id        text        PRIMARY KEY,
    unit_id        text        NOT NULL REFERENCES units,
    payer_party_id text        NOT NULL,
    invoice_ids    text[]      NOT NULL,
    total_fen      bigint      NOT NULL CHECK (total_fen > 0),
    created_at     timestamptz NOT NULL,
    reason         text        NOT NULL
);

CREATE TABLE installment_parts (
    plan_id        text        NOT NULL REFERENCES installment_plans,
    part_no        integer     NOT NULL,
    due_date       date        NOT NULL,
    amount_fen     bigint      NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (plan_id, part_no)
);

CREATE TABLE ledger_imports (
    import_id      text        PRIMARY KEY,
    community_id   text        NOT NULL REFERENCES communities,
    file_sha256    text        NOT NULL,
    filename       text        NOT NULL,
    rows_total     integer     NOT NULL,
    rows_imported  integer     NOT NULL,
    rows_rejected  integer     NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
