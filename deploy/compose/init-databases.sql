-- One database per service, as in the local setup (deploy/local/infra.sh).
CREATE ROLE propfee LOGIN PASSWORD 'propfee' CREATEDB;
CREATE DATABASE billing OWNER propfee;
CREATE DATABASE payments OWNER propfee;
CREATE DATABASE dunning OWNER propfee;
CREATE DATABASE notifier OWNER propfee;
