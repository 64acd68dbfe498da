-- staff: one row per staff member with their capacity and customer counts.
CREATE TABLE {s}.staff (
	corp_id              text        NOT NULL,
	staff_id             text        NOT NULL,
	name                 text        NOT NULL DEFAULT '',
	status               text        NOT NULL DEFAULT 'unknown', -- active | departed | unknown (seen only in other events)
	capacity             int         NOT NULL DEFAULT 0,         -- 0: the corp's default
	joined_at            timestamptz,
	departed_at          timestamptz,
	active_customers     int         NOT NULL DEFAULT 0,
	unassigned_customers int         NOT NULL DEFAULT 0,
	slots_used           int         NOT NULL DEFAULT 0,
	updated_at           timestamptz NOT NULL,
	PRIMARY KEY (corp_id, staff_id)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS staff_corp_status_idx ON {s}.staff (corp_id, status);
