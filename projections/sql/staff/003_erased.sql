-- Staff are data subjects too: staff.erased blanks the name and marks the
-- member erased, as customers.erased does for customers.
ALTER TABLE {s}.staff
	ADD COLUMN erased    boolean NOT NULL DEFAULT false,
	ADD COLUMN erased_at timestamptz;
