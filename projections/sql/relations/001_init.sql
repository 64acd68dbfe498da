-- relations: one row per (customer, staff) pair, describing its latest interval.
CREATE TABLE {s}.relations (
	corp_id            text        NOT NULL,
	customer_id        text        NOT NULL,
	staff_id           text        NOT NULL,
	status             text        NOT NULL, -- active | unassigned | ended
	started_at         timestamptz NOT NULL,
	ended_at           timestamptz,
	end_reason         text,
	started_by         text        NOT NULL, -- added | handover
	start_handover_id  text,
	end_handover_id    text,
	initiator          text        NOT NULL DEFAULT '',
	add_way            int         NOT NULL DEFAULT 0,
	channel            text        NOT NULL DEFAULT '',
	customer_name      text        NOT NULL DEFAULT '',
	remark             text        NOT NULL DEFAULT '',
	description        text        NOT NULL DEFAULT '',
	phones             text[]      NOT NULL DEFAULT '{}',
	tags               text[]      NOT NULL DEFAULT '{}',
	moments_opted_out  boolean     NOT NULL DEFAULT false,
	moments_changed_at timestamptz,
	intervals          int         NOT NULL DEFAULT 1,
	updated_at         timestamptz NOT NULL,
	PRIMARY KEY (corp_id, customer_id, staff_id)
);
CREATE INDEX relations_staff_idx ON {s}.relations (corp_id, staff_id, status, customer_id);

-- ownership_intervals: one row per interval a staff member served a customer.
CREATE TABLE {s}.ownership_intervals (
	corp_id           text        NOT NULL,
	customer_id       text        NOT NULL,
	staff_id          text        NOT NULL,
	started_at        timestamptz NOT NULL,
	ended_at          timestamptz,
	started_by        text        NOT NULL,
	start_handover_id text,
	end_reason        text,
	end_handover_id   text,
	start_commit      bigint      NOT NULL,
	start_prepare     bigint      NOT NULL,
	PRIMARY KEY (start_commit, start_prepare)
);
CREATE INDEX ownership_intervals_open_idx ON {s}.ownership_intervals (corp_id, customer_id, staff_id) WHERE ended_at IS NULL;

-- unassigned_relations: active relations of departed staff waiting for a resigned handover.
CREATE TABLE {s}.unassigned_relations (
	corp_id     text        NOT NULL,
	customer_id text        NOT NULL,
	staff_id    text        NOT NULL,
	departed_at timestamptz NOT NULL,
	started_at  timestamptz NOT NULL,
	PRIMARY KEY (corp_id, customer_id, staff_id)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS relations_status_idx ON {s}.relations (corp_id, status, ended_at);
CREATE INDEX IF NOT EXISTS ownership_intervals_customer_idx ON {s}.ownership_intervals (corp_id, customer_id, started_at);
CREATE INDEX IF NOT EXISTS ownership_intervals_staff_idx ON {s}.ownership_intervals (corp_id, staff_id, started_at);
CREATE INDEX IF NOT EXISTS unassigned_relations_staff_idx ON {s}.unassigned_relations (corp_id, staff_id, customer_id);
CREATE INDEX IF NOT EXISTS unassigned_relations_departed_idx ON {s}.unassigned_relations (corp_id, departed_at);
