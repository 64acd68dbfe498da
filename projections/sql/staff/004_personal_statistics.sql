-- Keep personal data out of PostgreSQL's column statistics. ANALYZE (run by
-- autovacuum) samples a column's most common values and histogram bounds
-- into pg_statistic, readable through pg_stats by every role that may read
-- the table, and an erasure cannot blank them there. These columns are
-- never filtered on, so the planner loses nothing. The same-type
-- ALTER ... TYPE rewrites nothing; it drops the statistics already
-- gathered. See docs/erasure.md.
ALTER TABLE {s}.staff
	ALTER COLUMN name SET STATISTICS 0,
	ALTER COLUMN name TYPE text;
