-- Counts are bigint like every integer column of the projections. Rewrites the table.
ALTER TABLE {s}.customers ALTER COLUMN follower_count TYPE bigint;
