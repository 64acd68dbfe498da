-- Keep the payloads out of PostgreSQL's column statistics. ANALYZE samples
-- a column's most common values and histogram bounds into pg_statistic,
-- readable through pg_stats by anyone who may read the table, and an
-- erasure cannot remove them there. data carries no sealed personal data,
-- but events stored before the free-text fields were sealed (handover
-- messages, group names and notices: docs/erasure.md) carry them in plain
-- text. Queries filter on data's keys, whose statistics are gathered on
-- expression indexes, not on the column. The same-type ALTER ... TYPE
-- rewrites nothing; it drops the statistics already gathered.
ALTER TABLE events ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE events ALTER COLUMN data TYPE jsonb;
