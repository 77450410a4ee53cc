-- PLACEHOLDER on branch wt-account only: billing migration 0007 belongs to another helper of
-- issue 17 and migrations may not have gaps. Delete this file when merging that helper's 0007.
SELECT 1;
