-- PLACEHOLDER: billing migration 0006 belongs to another branch of issue 17; removed when it merges.
SELECT 1;
