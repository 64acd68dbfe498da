-- tags: a corp's enterprise tag catalog (企业标签) as WeCom reports it, one
-- row per tag or tag group. Deleted entries stay, flagged.
CREATE TABLE {s}.tags (
	corp_id      text        NOT NULL,
	tag_id       text        NOT NULL,
	kind         text        NOT NULL, -- tag | tag_group
	group_id     text        NOT NULL DEFAULT '', -- a tag's group; '' when unknown or for a group
	name         text        NOT NULL DEFAULT '', -- '' until WeCom said it
	deleted      boolean     NOT NULL DEFAULT false,
	created_at   timestamptz,          -- null when custody saw no tag.created
	updated_at   timestamptz NOT NULL,
	reordered_at timestamptz,          -- last reordering of a group's tags (for a group) or of the groups
	PRIMARY KEY (corp_id, tag_id)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS tags_group_idx ON {s}.tags (corp_id, group_id);
