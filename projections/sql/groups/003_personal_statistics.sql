-- Keep personal data out of PostgreSQL's column statistics. ANALYZE (run by
-- autovacuum) samples a column's most common values and histogram bounds
-- into pg_statistic, readable through pg_stats by every role that may read
-- the table, and an erasure cannot blank them there. These columns are
-- never filtered on, so the planner loses nothing. The same-type
-- ALTER ... TYPE rewrites nothing; it drops the statistics already
-- gathered. See docs/erasure.md.
-- Group names and notices are free text that often names customers.
ALTER TABLE {s}.group_chats
	ALTER COLUMN name SET STATISTICS 0,
	ALTER COLUMN notice SET STATISTICS 0,
	ALTER COLUMN name TYPE text,
	ALTER COLUMN notice TYPE text;
ALTER TABLE {s}.group_members
	ALTER COLUMN nickname SET STATISTICS 0,
	ALTER COLUMN nickname TYPE text;
ALTER TABLE {s}.group_membership_history
	ALTER COLUMN nickname SET STATISTICS 0,
	ALTER COLUMN nickname TYPE text;
