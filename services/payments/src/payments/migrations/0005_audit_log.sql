-- The audit trail (propfee.audit.AUDIT_LOG_DDL, verbatim): refunds, counter payments,
-- resolutions of exceptions and discrepancies, bank-file and statement imports.
CREATE TABLE audit_log (
    audit_id      bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor         text        NOT NULL,
    actor_roles   text[]      NOT NULL,
    company_id    text        NOT NULL,
    community_id  text,
    unit_id       text,
    action        text        NOT NULL,
    subject_type  text        NOT NULL,
    subject_id    text        NOT NULL,
    before        jsonb,
    after         jsonb,
    reason        text
);
CREATE INDEX audit_log_by_unit ON audit_log (unit_id, audit_id) WHERE unit_id IS NOT NULL;
CREATE INDEX audit_log_by_actor ON audit_log (actor, audit_id);
CREATE INDEX audit_log_by_community ON audit_log (company_id, community_id, audit_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
