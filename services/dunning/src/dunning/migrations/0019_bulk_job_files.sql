-- Issue 23 (the console's workbench): bulk jobs that end with a file to download.
--
-- The jobs of migration 0017 gain a kind: 'export_cases' (the selected cases as the arrears
-- list's XLSX). Its items are done as the others (each case resolved with the requester's
-- rights: one outside their scope now fails alone); the chunk that finishes the job writes
-- the workbook of the cases done, in the order selected, into the job's row (a job is read
-- by whoever may read the job: the requester's company, within the job's communities).
-- Whose is this row? The job's (company_id, community_ids), as in 0017.
ALTER TABLE bulk_jobs DROP CONSTRAINT bulk_jobs_kind_check;
ALTER TABLE bulk_jobs ADD CONSTRAINT bulk_jobs_kind_check
    CHECK (kind IN ('assign_cases', 'export_cases'));
ALTER TABLE bulk_jobs
    ADD COLUMN file_name    text,
    ADD COLUMN file_type    text,
    ADD COLUMN file_content bytea,
    ADD CONSTRAINT bulk_jobs_file_whole
        CHECK ((file_name IS NULL) = (file_content IS NULL) AND (file_name IS NULL) = (file_type IS NULL));
