-- handovers: one row per handover request.
CREATE TABLE {s}.handovers (
	corp_id        text        NOT NULL,
	handover_id    text        NOT NULL,
	customer_id    text        NOT NULL,
	kind           text        NOT NULL, -- in_service | resigned
	from_staff_id  text        NOT NULL,
	to_staff_id    text        NOT NULL,
	batch_id       text        NOT NULL DEFAULT '',
	message        text        NOT NULL DEFAULT '',
	status         text        NOT NULL, -- pending | completed | refused | failed | cancelled
	requested_at   timestamptz NOT NULL,
	deadline       timestamptz NOT NULL,
	settled_at     timestamptz,
	failure_reason text,
	PRIMARY KEY (corp_id, handover_id)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS handovers_status_idx ON {s}.handovers (corp_id, status, deadline);
CREATE INDEX IF NOT EXISTS handovers_pending_deadline_idx ON {s}.handovers (deadline) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS handovers_customer_idx ON {s}.handovers (corp_id, customer_id, requested_at);
CREATE INDEX IF NOT EXISTS handovers_from_idx ON {s}.handovers (corp_id, from_staff_id, requested_at);
CREATE INDEX IF NOT EXISTS handovers_to_idx ON {s}.handovers (corp_id, to_staff_id, requested_at);
