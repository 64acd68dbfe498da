-- customers: one row per customer with their current followers.
CREATE TABLE {s}.customers (
	corp_id        text        NOT NULL,
	customer_id    text        NOT NULL,
	name           text        NOT NULL DEFAULT '',
	followers      text[]      NOT NULL DEFAULT '{}', -- staff with a relation not ended (active or unassigned), in order of adding
	follower_count int         NOT NULL DEFAULT 0,
	first_added_at timestamptz,
	last_added_at  timestamptz,
	erased         boolean     NOT NULL DEFAULT false,
	erased_at      timestamptz,
	updated_at     timestamptz NOT NULL,
	PRIMARY KEY (corp_id, customer_id)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS customers_corp_first_added_idx ON {s}.customers (corp_id, first_added_at);
CREATE INDEX IF NOT EXISTS customers_followers_idx ON {s}.customers USING gin (followers);
