-- Counts are bigint like every integer column of the projections. Rewrites the table.
ALTER TABLE {s}.group_chats
	ALTER COLUMN staff_members TYPE bigint,
	ALTER COLUMN customer_members TYPE bigint,
	ALTER COLUMN owner_changes TYPE bigint;
