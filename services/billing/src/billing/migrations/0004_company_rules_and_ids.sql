-- Tenancy (issue 16): rules and settings belong to a company, ids are not guessable, records
-- keep both the business time and the real time.

-- The company's window for back-dated records (days; DOMAIN.md "Business times"), published
-- on every community of the company (CommunityUpdated.backdate_days).
ALTER TABLE companies
    ADD COLUMN backdate_days integer NOT NULL DEFAULT 7 CHECK (backdate_days BETWEEN 0 AND 31),
    ADD COLUMN updated_at    timestamptz NOT NULL DEFAULT now();

-- Vacancy rules belong to a company (per city of its communities), a community may override
-- its company's rule; a city alone owns nothing.
CREATE TABLE company_vacancy_rules (
    company_id     text        NOT NULL REFERENCES companies,
    city           text        NOT NULL,
    after_months   integer     NOT NULL CHECK (after_months > 0),
    payable_share  numeric(5, 4) NOT NULL CHECK (payable_share > 0 AND payable_share <= 1),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, city)
);

CREATE TABLE community_vacancy_rules (
    community_id   text        PRIMARY KEY REFERENCES communities,
    after_months   integer     NOT NULL CHECK (after_months > 0),
    payable_share  numeric(5, 4) NOT NULL CHECK (payable_share > 0 AND payable_share <= 1),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A city's rule so far applied to every company with a community there: each such company
-- keeps it as its own, so no community's bills change with this migration.
INSERT INTO company_vacancy_rules (company_id, city, after_months, payable_share)
SELECT DISTINCT c.company_id, v.city, v.after_months, v.payable_share
  FROM vacancy_rules v JOIN communities c ON c.city = v.city;
DROP TABLE vacancy_rules;

-- Ids of new units and invoices are server-generated; the client's own identifier is a
-- reference, unique within the community.
ALTER TABLE units ADD COLUMN reference text;
CREATE UNIQUE INDEX units_reference ON units (community_id, reference) WHERE reference IS NOT NULL;
ALTER TABLE invoices ADD COLUMN reference text;
CREATE UNIQUE INDEX invoices_reference ON invoices (community_id, reference)
    WHERE reference IS NOT NULL;

-- The real time next to each business time a client may choose (late_fee_waivers has it:
-- created_at). Rows from before this migration keep NULL: their real time is unknown.
ALTER TABLE invoices
    ADD COLUMN recorded_at             timestamptz,
    ADD COLUMN voided_recorded_at      timestamptz,
    ADD COLUMN written_off_recorded_at timestamptz;
ALTER TABLE invoices ALTER COLUMN recorded_at SET DEFAULT now();
ALTER TABLE installment_plans ADD COLUMN recorded_at timestamptz;
ALTER TABLE installment_plans ALTER COLUMN recorded_at SET DEFAULT now();
ALTER TABLE e_invoice_requests ADD COLUMN recorded_at timestamptz;
ALTER TABLE e_invoice_requests ALTER COLUMN recorded_at SET DEFAULT now();
