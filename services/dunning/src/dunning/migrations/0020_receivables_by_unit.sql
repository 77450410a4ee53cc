-- Issue 22: a unit's receivables, open or not. Every request naming a unit resolves its
-- community from them (propfee.auth.scope.ColumnResolver), and every case read takes its
-- building from them; the only indexes on unit_id were partial (open receivables), so both
-- scanned the table: make demo's read of one household's cases took 179 ms at 1,236
-- households after a year (pg_stat_statements), and the arrears list cost cases x
-- receivables. Both are index-only lookups now.
CREATE INDEX receivables_by_unit ON receivables (unit_id) INCLUDE (community_id, building_id);
