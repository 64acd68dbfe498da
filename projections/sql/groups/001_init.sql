-- group_chats: one row per customer group.
CREATE TABLE {s}.group_chats (
	corp_id          text        NOT NULL,
	chat_id          text        NOT NULL,
	owner_id         text        NOT NULL,
	name             text        NOT NULL DEFAULT '',
	notice           text        NOT NULL DEFAULT '',
	status           text        NOT NULL DEFAULT 'active', -- active | dismissed
	created_at       timestamptz NOT NULL,
	dismissed_at     timestamptz,
	staff_members    int         NOT NULL DEFAULT 0,
	customer_members int         NOT NULL DEFAULT 0,
	owner_changes    int         NOT NULL DEFAULT 0,
	updated_at       timestamptz NOT NULL,
	PRIMARY KEY (corp_id, chat_id)
);

-- group_members: current members.
CREATE TABLE {s}.group_members (
	corp_id     text        NOT NULL,
	chat_id     text        NOT NULL,
	member_id   text        NOT NULL,
	member_type text        NOT NULL, -- staff | customer
	joined_at   timestamptz NOT NULL,
	join_scene  text        NOT NULL,
	inviter_id  text        NOT NULL DEFAULT '',
	nickname    text        NOT NULL DEFAULT '',
	PRIMARY KEY (corp_id, chat_id, member_type, member_id)
);
CREATE INDEX group_members_member_idx ON {s}.group_members (corp_id, member_type, member_id);

-- group_membership_history: one row per stint of a member in a group; a
-- rejoin adds a row, leaving only fills left_at and quit_scene.
CREATE TABLE {s}.group_membership_history (
	corp_id      text        NOT NULL,
	chat_id      text        NOT NULL,
	member_id    text        NOT NULL,
	member_type  text        NOT NULL,
	joined_at    timestamptz NOT NULL,
	join_scene   text        NOT NULL,
	inviter_id   text        NOT NULL DEFAULT '',
	nickname     text        NOT NULL DEFAULT '',
	left_at      timestamptz,
	quit_scene   text,
	join_commit  bigint      NOT NULL,
	join_prepare bigint      NOT NULL,
	PRIMARY KEY (join_commit, join_prepare)
);
CREATE INDEX group_membership_history_member_idx ON {s}.group_membership_history (corp_id, member_type, member_id);
CREATE INDEX group_membership_history_open_idx ON {s}.group_membership_history (corp_id, chat_id, member_type, member_id) WHERE left_at IS NULL;

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
CREATE INDEX IF NOT EXISTS group_chats_owner_idx ON {s}.group_chats (corp_id, owner_id);
CREATE INDEX IF NOT EXISTS group_membership_history_chat_idx ON {s}.group_membership_history (corp_id, chat_id, joined_at);
