-- PLACEHOLDER (wt-workbench): 0016 is another helper's migration; migrations may not have
-- gaps, so this no-op stands in for it in this branch. DELETE THIS FILE AT MERGE (the real
-- 0016 takes its place; 0017_bulk_jobs.sql is the workbench's).
SELECT 1;
