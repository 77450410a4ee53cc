-- One database per service, as in the local setup (deploy/local/infra.sh), with its two roles:
-- propfee_owner runs the migrations and owns every schema object; propfee, the services'
-- runtime role, is granted rows only by each migration run (SELECT and INSERT on audit_log),
-- so it cannot ALTER, DROP or disable the audit log's trigger (docs/security.md).
CREATE ROLE propfee LOGIN PASSWORD 'propfee';
CREATE ROLE propfee_owner LOGIN PASSWORD 'propfee_owner';
CREATE DATABASE billing OWNER propfee_owner;
CREATE DATABASE payments OWNER propfee_owner;
CREATE DATABASE dunning OWNER propfee_owner;
CREATE DATABASE notifier OWNER propfee_owner;
