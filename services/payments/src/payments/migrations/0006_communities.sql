-- Each community's company, from billing.community-updated (newest updated_at wins): the
-- scope check of a token whose communities claim is "*" (every community of its company).
-- A community payments has not learnt is outside every company-bound scope.
CREATE TABLE communities (
    community_id text        PRIMARY KEY,
    company_id   text        NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX communities_by_company ON communities (company_id, community_id);
