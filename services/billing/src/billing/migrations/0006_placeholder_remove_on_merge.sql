<<<<<<< HEAD
-- PLACEHOLDER on branch wt-account only: billing migration 0006 belongs to another helper of
=======
-- PLACEHOLDER on branch wt-utilities only: billing migration 0006 belongs to another helper of
>>>>>>> wt-utilities
-- issue 17 and migrations may not have gaps. Delete this file when merging that helper's 0006.
SELECT 1;
