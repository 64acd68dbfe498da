-- consents: each customer's current state per purpose.
CREATE TABLE {s}.consents (
	corp_id     text        NOT NULL,
	customer_id text        NOT NULL,
	purpose     text        NOT NULL, -- chat_archive | marketing
	state       text        NOT NULL, -- agree | disagree | default_agree
	changed_at  timestamptz NOT NULL,
	recorded_at timestamptz NOT NULL,
	PRIMARY KEY (corp_id, customer_id, purpose)
);

-- consent_history: every recorded change.
CREATE TABLE {s}.consent_history (
	corp_id     text        NOT NULL,
	customer_id text        NOT NULL,
	purpose     text        NOT NULL,
	state       text        NOT NULL,
	changed_at  timestamptz NOT NULL,
	recorded_at timestamptz NOT NULL,
	commit_pos  bigint      NOT NULL,
	prepare_pos bigint      NOT NULL,
	PRIMARY KEY (commit_pos, prepare_pos)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS consents_purpose_idx ON {s}.consents (corp_id, purpose, state);
CREATE INDEX IF NOT EXISTS consent_history_customer_idx ON {s}.consent_history (corp_id, customer_id, changed_at);
