-- wecom_unmatched: one row per WeCom callback custody's state contradicted
-- (wecom.fact_unmatched), keyed by the callback's dedup key.
CREATE TABLE {s}.wecom_unmatched (
	corp_id      text        NOT NULL,
	callback_key text        NOT NULL,
	kind         text        NOT NULL, -- the callback's Event/ChangeType[/UpdateDetail]
	reason       text        NOT NULL,
	customer_id  text        NOT NULL DEFAULT '',
	staff_id     text        NOT NULL DEFAULT '',
	chat_id      text        NOT NULL DEFAULT '',
	member_ids   text[]      NOT NULL DEFAULT '{}',
	occurred_at  timestamptz NOT NULL,
	recorded_at  timestamptz NOT NULL,
	commit_pos   bigint      NOT NULL,
	prepare_pos  bigint      NOT NULL,
	PRIMARY KEY (corp_id, callback_key)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS wecom_unmatched_reason_idx ON {s}.wecom_unmatched (corp_id, reason, occurred_at);
CREATE INDEX IF NOT EXISTS wecom_unmatched_occurred_idx ON {s}.wecom_unmatched (corp_id, occurred_at);
