-- Keep personal data out of PostgreSQL's column statistics. ANALYZE (run by
-- autovacuum) samples a column's most common values and histogram bounds
-- into pg_statistic, readable through pg_stats by every role that may read
-- the table, and an erasure cannot blank them there. These columns are
-- never filtered on, so the planner loses nothing. The same-type
-- ALTER ... TYPE rewrites nothing; it drops the statistics already
-- gathered. See docs/erasure.md.
ALTER TABLE {s}.relations
	ALTER COLUMN customer_name SET STATISTICS 0,
	ALTER COLUMN remark SET STATISTICS 0,
	ALTER COLUMN description SET STATISTICS 0,
	ALTER COLUMN phones SET STATISTICS 0,
	ALTER COLUMN customer_name TYPE text,
	ALTER COLUMN remark TYPE text,
	ALTER COLUMN description TYPE text,
	ALTER COLUMN phones TYPE text[];
