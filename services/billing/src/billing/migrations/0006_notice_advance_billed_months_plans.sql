-- Money rules (issue 17): schedule notice from the recording day, a unit-month billed once per
-- fee item, installment parts per community.

-- The 30 days' notice runs from the day a version is recorded (DOMAIN.md, "Schedule notice").
-- A version is 'published' (recorded as of the community's today, or the simulation clock's
-- day) or 'imported': a schedule the community had before Propfee, with its original dates,
-- imported once per community by a company-level role with the import's approval reference.
ALTER TABLE fee_schedules
    ADD COLUMN recorded_as text NOT NULL DEFAULT 'published'
        CHECK (recorded_as IN ('published', 'imported')),
    ADD COLUMN import_ref  text,
    ADD CONSTRAINT fee_schedules_import_ref
        CHECK ((recorded_as = 'imported') = (coalesce(import_ref, '') <> ''));

CREATE TABLE fee_schedule_imports (
    community_id   text        PRIMARY KEY REFERENCES communities,  -- once per community
    approval_ref   text        NOT NULL CHECK (approval_ref <> ''),
    versions       integer     NOT NULL CHECK (versions > 0),
    imported_by    text        NOT NULL,
    imported_at    timestamptz NOT NULL DEFAULT now()
);

-- A unit-month is billed once per time-based fee item (area, fixed, parking): written by runs
-- and manual invoices in the transaction of the invoice, read set-based by the next run (which
-- skips what is billed) and by a manual invoice (409). A void frees the months again. No
-- foreign keys: runs COPY these rows by the hundred thousand next to the invoices they name.
CREATE TABLE billed_months (
    unit_id        text        NOT NULL,
    fee_item       text        NOT NULL,
    month          date        NOT NULL CHECK (extract(day FROM month) = 1),
    invoice_id     text        NOT NULL,
    PRIMARY KEY (unit_id, fee_item, month)
);

-- What was billed before this migration: every standing invoice's time-based lines, month by
-- month (the first invoice issued wins where two overlapped).
INSERT INTO billed_months (unit_id, fee_item, month, invoice_id)
SELECT DISTINCT ON (i.unit_id, l.fee_item, m.month) i.unit_id, l.fee_item, m.month::date,
       i.invoice_id
  FROM invoices i
  JOIN invoice_lines l USING (invoice_id)
  JOIN fee_schedules s ON s.community_id = i.community_id AND s.version = i.schedule_version
  CROSS JOIN LATERAL generate_series(date_trunc('month', i.period_start), i.period_end,
                                     interval '1 month') AS m(month)
 WHERE i.status <> 'void'
   AND i.kind IN ('regular', 'manual')
   AND EXISTS (SELECT 1 FROM fee_items f WHERE f.schedule_id = s.schedule_id
                 AND f.code = l.fee_item AND f.kind IN ('area', 'fixed', 'parking'))
 ORDER BY i.unit_id, l.fee_item, m.month, i.issued_at, i.invoice_id;

-- Metered, shared-meter and one-off charges are billed by their own rows: the run that billed
-- a row names it, and no later run (a quarterly run after the monthly ones) bills it again.
ALTER TABLE meter_readings ADD COLUMN billed_run_id text;
ALTER TABLE shared_meter_readings ADD COLUMN billed_run_id text;
ALTER TABLE one_off_charges ADD COLUMN billed_run_id text;
UPDATE meter_readings m SET billed_run_id = r.run_id
  FROM units u, billing_runs r
 WHERE u.unit_id = m.unit_id AND r.community_id = u.community_id
   AND m.period_month BETWEEN r.period_start AND r.period_end;
UPDATE shared_meter_readings m SET billed_run_id = r.run_id
  FROM billing_runs r
 WHERE r.community_id = m.community_id AND m.period_month BETWEEN r.period_start AND r.period_end;
UPDATE one_off_charges c SET billed_run_id = r.run_id
  FROM units u, billing_runs r
 WHERE u.unit_id = c.unit_id AND r.community_id = u.community_id
   AND c.period_month BETWEEN r.period_start AND r.period_end;

-- How many unit-month-items a run found billed already and skipped.
ALTER TABLE billing_runs ADD COLUMN skipped integer NOT NULL DEFAULT 0;

-- Installment plans: 3-6 parts by default, per community within 2-12.
ALTER TABLE communities
    ADD COLUMN installment_min_parts integer NOT NULL DEFAULT 3,
    ADD COLUMN installment_max_parts integer NOT NULL DEFAULT 6,
    ADD CONSTRAINT communities_installment_parts
        CHECK (2 <= installment_min_parts AND installment_min_parts <= installment_max_parts
               AND installment_max_parts <= 12);
