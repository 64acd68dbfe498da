-- moments_opt_outs: each customer's latest choice about a staff member's moments.
CREATE TABLE {s}.moments_opt_outs (
	corp_id     text        NOT NULL,
	customer_id text        NOT NULL,
	staff_id    text        NOT NULL,
	opted_out   boolean     NOT NULL,
	changed_at  timestamptz NOT NULL,
	source      text        NOT NULL DEFAULT '',
	PRIMARY KEY (corp_id, customer_id, staff_id)
);

-- moments_audience: one row per active relation; the audience is the rows
-- with opted_out = false.
CREATE TABLE {s}.moments_audience (
	corp_id     text        NOT NULL,
	staff_id    text        NOT NULL,
	customer_id text        NOT NULL,
	since       timestamptz NOT NULL,
	opted_out   boolean     NOT NULL DEFAULT false,
	PRIMARY KEY (corp_id, staff_id, customer_id)
);
CREATE INDEX moments_audience_customer_idx ON {s}.moments_audience (corp_id, customer_id);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS moments_opt_outs_staff_idx ON {s}.moments_opt_outs (corp_id, staff_id) WHERE opted_out;
