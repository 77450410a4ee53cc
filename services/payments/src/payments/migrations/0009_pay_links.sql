-- Issue 19: pay links are short signed tokens (propfee.pay_links), one per household and
-- occasion, made by the notifier (notifier.pay-link-issued); payments keeps each with its
-- expiry and revocation and resolves it to what the household owes on the day it is opened.
-- A row is the community's (community_id; its company through communities): staff list and
-- revoke only their own.
CREATE TABLE pay_links (
    token         text        PRIMARY KEY,
    community_id  text        NOT NULL,
    unit_id       text        NOT NULL,
    party_id      text        NOT NULL,
    occasion      text        NOT NULL,          -- subject, message type and stage
    issued_at     timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,          -- resolves until this instant (excluded)
    revoked_at    timestamptz,
    revoked_by    text,
    revoke_reason text,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX pay_links_by_unit ON pay_links (unit_id, issued_at DESC);

-- The community's name (billing.community-updated), which a pay link's answer shows the owner.
ALTER TABLE communities ADD COLUMN name text;
