-- Counts are bigint like every integer column of the projections. Rewrites the table.
ALTER TABLE {s}.daily_staff_activity
	ALTER COLUMN added TYPE bigint,
	ALTER COLUMN added_by_staff TYPE bigint,
	ALTER COLUMN added_by_customer TYPE bigint,
	ALTER COLUMN deleted_by_customer TYPE bigint,
	ALTER COLUMN deleted_by_staff TYPE bigint,
	ALTER COLUMN handed_over_in TYPE bigint,
	ALTER COLUMN handed_over_out TYPE bigint,
	ALTER COLUMN reconciled TYPE bigint;
