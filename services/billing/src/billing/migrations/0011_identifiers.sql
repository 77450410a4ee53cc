-- Identifiers checked at the edge (propfee.validation, issue 20): the company's unified social
-- credit code (统一社会信用代码, its check character verified) and a person's resident identity
-- card number (居民身份证号码, for court filings: personal data, answered masked to every role,
-- never in events or logs). Both optional: nothing registered before needs them.
ALTER TABLE companies ADD COLUMN credit_code text;
ALTER TABLE parties ADD COLUMN id_number text;
