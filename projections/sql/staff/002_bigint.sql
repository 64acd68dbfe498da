-- Capacity comes from events and may be any 64-bit integer; the counters
-- widen with it. Rewrites the table.
ALTER TABLE {s}.staff
	ALTER COLUMN capacity TYPE bigint,
	ALTER COLUMN active_customers TYPE bigint,
	ALTER COLUMN unassigned_customers TYPE bigint,
	ALTER COLUMN slots_used TYPE bigint;
