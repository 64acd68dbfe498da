-- daily_staff_activity: adds and churn per staff member and day.
CREATE TABLE {s}.daily_staff_activity (
	corp_id             text NOT NULL,
	staff_id            text NOT NULL,
	day                 date NOT NULL,
	added               int  NOT NULL DEFAULT 0,
	added_by_staff      int  NOT NULL DEFAULT 0,
	added_by_customer   int  NOT NULL DEFAULT 0,
	deleted_by_customer int  NOT NULL DEFAULT 0,
	deleted_by_staff    int  NOT NULL DEFAULT 0,
	handed_over_in      int  NOT NULL DEFAULT 0,
	handed_over_out     int  NOT NULL DEFAULT 0,
	reconciled          int  NOT NULL DEFAULT 0,
	PRIMARY KEY (corp_id, staff_id, day)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS daily_staff_activity_day_idx ON {s}.daily_staff_activity (corp_id, day);
