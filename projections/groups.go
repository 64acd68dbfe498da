package projections

import "github.com/custody/custody/events"

// Groups is the "groups" projection:
//
//   - group_chats: one row per customer group with owner, status and member
//     counts by type;
//   - group_members: the current members;
//   - group_membership_history: one row per stint of a member in a group
//     (joined with scene and inviter, left with scene); a rejoin adds a
//     row, nothing is overwritten.
type Groups struct{}

// Name implements Projection.
func (Groups) Name() string { return "groups" }

// Tables implements Projection.
func (Groups) Tables() []string {
	return []string{"group_chats", "group_members", "group_membership_history"}
}

// Migrations implements Projection.
func (Groups) Migrations() []string { return migrations("groups") }

// Apply implements Projection.
func (Groups) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.GroupChatCreated:
		w.Queue(`INSERT INTO {s}.group_chats (corp_id, chat_id, owner_id, name, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (corp_id, chat_id) DO NOTHING`, corp, p.ChatID, p.OwnerID, p.Name, at)
	case *events.GroupChatMemberJoined:
		// Counting only rows actually inserted keeps the counts right if a
		// member is reported joined twice without leaving in between.
		w.Queue(`WITH ins AS (
				INSERT INTO {s}.group_members (corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT DO NOTHING
				RETURNING corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname
			), hist AS (
				INSERT INTO {s}.group_membership_history (corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname, join_commit, join_prepare)
				SELECT corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname, $9, $10 FROM ins
			)
			UPDATE {s}.group_chats SET
				staff_members = staff_members + (SELECT count(*) FROM ins WHERE member_type = 'staff'),
				customer_members = customer_members + (SELECT count(*) FROM ins WHERE member_type = 'customer'),
				updated_at = $5
			WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.MemberID, p.MemberType, at, p.JoinScene, p.InviterID, p.PII.Nickname,
			int64(e.Position.Commit), int64(e.Position.Prepare))
	case *events.GroupChatMemberLeft:
		w.Queue(`WITH del AS (
				DELETE FROM {s}.group_members WHERE corp_id = $1 AND chat_id = $2 AND member_type = $4 AND member_id = $3
				RETURNING member_type
			), hist AS (
				UPDATE {s}.group_membership_history SET left_at = $5, quit_scene = $6
				WHERE corp_id = $1 AND chat_id = $2 AND member_type = $4 AND member_id = $3 AND left_at IS NULL
			)
			UPDATE {s}.group_chats SET
				staff_members = staff_members - (SELECT count(*) FROM del WHERE member_type = 'staff'),
				customer_members = customer_members - (SELECT count(*) FROM del WHERE member_type = 'customer'),
				updated_at = $5
			WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.MemberID, p.MemberType, at, p.QuitScene)
	case *events.GroupChatOwnerChanged:
		w.Queue(`UPDATE {s}.group_chats SET owner_id = $3, owner_changes = owner_changes + 1, updated_at = $4
			WHERE corp_id = $1 AND chat_id = $2`, corp, p.ChatID, p.ToStaffID, at)
	case *events.GroupChatRenamed:
		w.Queue(`UPDATE {s}.group_chats SET name = $3, updated_at = $4 WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.Name, at)
	case *events.GroupChatNoticeChanged:
		w.Queue(`UPDATE {s}.group_chats SET notice = $3, updated_at = $4 WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.Notice, at)
	case *events.GroupChatDismissed:
		w.Queue(`UPDATE {s}.group_chats SET status = 'dismissed', dismissed_at = $3, updated_at = $3
			WHERE corp_id = $1 AND chat_id = $2`, corp, p.ChatID, at)
	case *events.CustomerErased:
		w.Queue(`UPDATE {s}.group_members SET nickname = ''
			WHERE corp_id = $1 AND member_type = 'customer' AND member_id = $2`, corp, p.CustomerID)
		w.Queue(`UPDATE {s}.group_membership_history SET nickname = ''
			WHERE corp_id = $1 AND member_type = 'customer' AND member_id = $2`, corp, p.CustomerID)
	}
	return nil
}
