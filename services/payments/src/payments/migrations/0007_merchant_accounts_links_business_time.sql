-- Issue 16: gateway-level records belong to a merchant account and so to a company; the
-- static QR links get a random token; counter payments keep their real recording time; each
-- community's back-dating window.

-- The merchant accounts this deployment has known (WeChat Pay mchid, Alipay app_id, UnionPay
-- merId) and the company owning each, written at start from the settings (PAYMENTS_<GATEWAY>_
-- MCHID/APP_ID/MER_ID and _COMPANY_ID). ``configured``: the account the settings name now
-- (one per gateway); older ones stay for the records that name them.
CREATE TABLE merchant_accounts (
    gateway      text        NOT NULL,            -- wechatpay | alipay | unionpay
    merchant_id  text        NOT NULL,
    company_id   text,                            -- NULL: no company's (deployment only)
    configured   boolean     NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, merchant_id)
);

-- Each gateway-level record names its merchant account ('' until known: backfilled at start
-- from the configured account of its gateway) and that account's company.
ALTER TABLE payment_exceptions
    ADD COLUMN merchant_id text NOT NULL DEFAULT '',
    ADD COLUMN company_id  text;
ALTER TABLE statement_imports
    ADD COLUMN merchant_id text NOT NULL DEFAULT '',
    ADD COLUMN company_id  text;
ALTER TABLE statement_imports DROP CONSTRAINT statement_imports_pkey;
ALTER TABLE statement_imports ADD PRIMARY KEY (gateway, merchant_id, bill_date);
ALTER TABLE discrepancies
    ADD COLUMN merchant_id text NOT NULL DEFAULT '',
    ADD COLUMN company_id  text;
ALTER TABLE discrepancies DROP CONSTRAINT discrepancies_gateway_bill_date_kind_reference_key;
ALTER TABLE discrepancies ADD CONSTRAINT discrepancies_per_account
    UNIQUE (gateway, merchant_id, bill_date, kind, reference);
CREATE INDEX payment_exceptions_by_company ON payment_exceptions (company_id, created_at);
CREATE INDEX discrepancies_by_company ON discrepancies (company_id, bill_date);

-- The real time a payment was recorded (paid_at is the business time staff may back-date
-- within the company's window; received_at stays what the event carries).
ALTER TABLE payments ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();

-- The company's back-dating window (billing.community-updated's backdate_days; NULL: the
-- default of propfee.business_time).
ALTER TABLE communities ADD COLUMN backdate_days integer;

-- The printed static QR link of a unit: a random token (the unit id is not in the link).
CREATE TABLE qr_links (
    unit_id      text        PRIMARY KEY,
    token        text        NOT NULL UNIQUE,
    community_id text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Token buckets limiting orders from QR links (per link token, per client address).
CREATE TABLE rate_buckets (
    bucket      text             PRIMARY KEY,
    tokens      double precision NOT NULL,
    updated_at  timestamptz      NOT NULL
);
