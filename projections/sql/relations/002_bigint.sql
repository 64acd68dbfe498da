-- add_way comes from events and may be any 64-bit integer. Rewrites the table.
ALTER TABLE {s}.relations
	ALTER COLUMN add_way TYPE bigint,
	ALTER COLUMN intervals TYPE bigint;
