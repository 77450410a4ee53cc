-- Issue 16: tenancy and business times.

-- The company's back-dating window (billing.community-updated carries it; NULL: the default
-- of propfee.business_time, 7 days).
ALTER TABLE communities ADD COLUMN backdate_days integer;

-- Records keep both the business time (the column staff may back-date within the window)
-- and the real time of the request. Rows from before this migration have no real time (NULL).
ALTER TABLE contact_outcomes ADD COLUMN recorded_at timestamptz;
ALTER TABLE contact_outcomes ALTER COLUMN recorded_at SET DEFAULT now();
ALTER TABLE case_notes ADD COLUMN recorded_at timestamptz;
ALTER TABLE case_notes ALTER COLUMN recorded_at SET DEFAULT now();
ALTER TABLE letters ADD COLUMN recorded_at timestamptz;
ALTER TABLE letters ALTER COLUMN recorded_at SET DEFAULT now();
ALTER TABLE pauses ADD COLUMN recorded_at timestamptz, ADD COLUMN resolution_recorded_at timestamptz;
ALTER TABLE pauses ALTER COLUMN recorded_at SET DEFAULT now();
ALTER TABLE escalations ADD COLUMN recorded_at timestamptz;
ALTER TABLE escalations ALTER COLUMN recorded_at SET DEFAULT now();
-- A promise's recorded_at was its business time: it moves to made_at; recorded_at is now the
-- real time (NULL for the rows from before).
ALTER TABLE promises ADD COLUMN made_at timestamptz;
UPDATE promises SET made_at = recorded_at;
ALTER TABLE promises ALTER COLUMN made_at SET NOT NULL;
ALTER TABLE promises ALTER COLUMN recorded_at DROP NOT NULL;
UPDATE promises SET recorded_at = NULL;
ALTER TABLE promises ALTER COLUMN recorded_at SET DEFAULT now();

-- Who ran a sweep, and for which company and communities (NULL: the whole deployment).
ALTER TABLE sweeps ADD COLUMN requested_by text, ADD COLUMN company_id text,
    ADD COLUMN community_ids text[];

-- Policies belong to a company: a community's policy to its community's company, a company's
-- default ('company:<id>') to the company; the built-in 'default' (company NULL) is the
-- deployment's, read-only over HTTP.
ALTER TABLE policies ADD COLUMN company_id text;
UPDATE policies p SET company_id = co.company_id
FROM community_policies cp JOIN communities co USING (community_id)
WHERE cp.policy_id = p.policy_id;

-- The legal track: stages from the policy's first demand with a deadline or legal referral
-- onwards (domain.policy.Policy.legal_from). A case that entered one stays on it
-- (legal_since): the legal role reads those cases only.
ALTER TABLE policy_stages ADD COLUMN legal boolean NOT NULL DEFAULT false;
UPDATE policy_stages ps SET legal = true
WHERE ps.idx >= (
    SELECT min(f.idx) FROM policy_stages f
    WHERE f.policy_id = ps.policy_id
      AND (f.deadline_days IS NOT NULL OR f.requires_demand
           OR f.code IN ('legal_demand', 'lawyer_letter', 'mediation', 'lawsuit', 'enforcement'))
);
ALTER TABLE arrears_cases ADD COLUMN legal_since timestamptz;
UPDATE arrears_cases c SET legal_since = coalesce(c.stage_entered_at, now())
FROM policy_stages ps
WHERE ps.policy_id = coalesce(
        (SELECT cp.policy_id FROM community_policies cp WHERE cp.community_id = c.community_id),
        'default')
  AND ps.code = c.stage AND ps.legal;
UPDATE arrears_cases c SET legal_since = d.issued_at
FROM (SELECT case_id, min(issued_at) AS issued_at FROM demands GROUP BY case_id) d
WHERE d.case_id = c.case_id AND c.legal_since IS NULL;
CREATE INDEX arrears_cases_legal ON arrears_cases (community_id) WHERE legal_since IS NOT NULL;
