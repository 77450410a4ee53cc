-- Templates belong to a company (DOMAIN.md, "Decisions, December 2026"; issue 16 item 4):
-- each company versions its own; a saved version is a draft until a second company-level
-- person (not its author) approves it; only approved versions render, the highest one per
-- (company, template id); a company without one gets the built-in default.
--
-- Versions saved before this migration were global: they keep the company of whoever saved
-- them (from the audit trail; none for a deployment-wide token) and become drafts, since
-- nobody approved them. A draft without a company never renders.
ALTER TABLE templates
    ADD COLUMN template_version_id text,
    ADD COLUMN company_id          text,
    ADD COLUMN author              text,       -- token subject of whoever saved it
    ADD COLUMN status              text        NOT NULL DEFAULT 'draft',
    ADD COLUMN approved_by         text,       -- token subject of the second person
    ADD COLUMN approved_at         timestamptz;
UPDATE templates t
   SET company_id = nullif(a.company_id, '*'), author = a.actor
  FROM audit_log a
 WHERE a.action = 'template.saved' AND a.subject_id = t.template_id
   AND a.after ->> 'version' = t.version::text;
UPDATE templates
   SET template_version_id = 'tv-' || gen_random_uuid()::text,
       author = coalesce(author, created_by);
ALTER TABLE templates
    ALTER COLUMN template_version_id SET NOT NULL,
    ALTER COLUMN author SET NOT NULL,
    DROP CONSTRAINT templates_pkey,
    ADD PRIMARY KEY (template_version_id),
    ADD CONSTRAINT templates_company_version UNIQUE (company_id, template_id, version),
    ADD CONSTRAINT templates_status CHECK (status IN ('draft', 'approved')),
    ADD CONSTRAINT templates_four_eyes CHECK (
        (status = 'draft' AND approved_by IS NULL AND approved_at IS NULL)
        OR (status = 'approved' AND approved_by IS NOT NULL AND approved_at IS NOT NULL
            AND approved_by <> author AND company_id IS NOT NULL));
CREATE INDEX templates_in_use ON templates (company_id, template_id, version DESC)
    WHERE status = 'approved';
