package projections

import (
	"time"

	"github.com/custody/custody/events"
)

// sqlGroups is the batched SQL implementation of the groups projection
// that its fold replaced, kept as the test oracle of the fold (see
// oracles).
type sqlGroups struct{}

func (sqlGroups) Name() string                     { return Groups{}.Name() }
func (sqlGroups) Tables() []string                 { return Groups{}.Tables() }
func (sqlGroups) Migrations() []string             { return Groups{}.Migrations() }
func (g sqlGroups) Apply(w *Writer, e Event) error { return g.applyBatch(w, []Event{e}) }

// grpCols are the unnest columns of one statement; which are used depends
// on the event type.
type grpCols struct {
	corp, chat, a, b, c, d, e []string
	at                        []time.Time
	commit, prepare           []int64
}

func (g *grpCols) add(e Event, chat string, vals ...string) {
	g.corp, g.chat, g.at = append(g.corp, e.CorpID), append(g.chat, chat), append(g.at, e.OccurredAt)
	vals = append(vals, "", "", "", "", "")
	g.a, g.b, g.c, g.d, g.e = append(g.a, vals[0]), append(g.b, vals[1]), append(g.c, vals[2]), append(g.d, vals[3]), append(g.e, vals[4])
	g.commit, g.prepare = append(g.commit, int64(e.Position.Commit)), append(g.prepare, int64(e.Position.Prepare))
}

type groupRound struct {
	created, joined, left, owner, renamed, notice, dismissed grpCols
	erased                                                   []Event
}

// applyBatch writes a batch with one statement per event type and round
// (see rounds): every group chat event touches only its chat's rows (the
// chat and its members); an erasure touches the customer's (or staff
// member's) rows in every chat and is a barrier for the whole batch.
func (sqlGroups) applyBatch(w *Writer, evs []Event) error {
	rs := newRounds()
	var rounds []groupRound
	at := func(chat string, e Event) *groupRound {
		i := rs.keyed(e.CorpID, chat, "")
		rounds = grow(rounds, i)
		return &rounds[i]
	}
	for _, e := range evs {
		switch p := e.Payload.(type) {
		case *events.GroupChatCreated:
			at(p.ChatID, e).created.add(e, p.ChatID, p.OwnerID, p.Name)
		case *events.GroupChatMemberJoined:
			at(p.ChatID, e).joined.add(e, p.ChatID, p.MemberID, p.MemberType, p.JoinScene, p.InviterID, p.PII.Nickname)
		case *events.GroupChatMemberLeft:
			at(p.ChatID, e).left.add(e, p.ChatID, p.MemberID, p.MemberType, p.QuitScene)
		case *events.GroupChatOwnerChanged:
			at(p.ChatID, e).owner.add(e, p.ChatID, p.ToStaffID)
		case *events.GroupChatRenamed:
			at(p.ChatID, e).renamed.add(e, p.ChatID, p.Name)
		case *events.GroupChatNoticeChanged:
			at(p.ChatID, e).notice.add(e, p.ChatID, p.Notice)
		case *events.GroupChatDismissed:
			at(p.ChatID, e).dismissed.add(e, p.ChatID)
		case *events.CustomerErased, *events.StaffErased:
			i := rs.fullBarrier()
			rounds = grow(rounds, i)
			rounds[i].erased = append(rounds[i].erased, e)
		}
	}
	for i := range rounds {
		r := &rounds[i]
		if c := r.created; len(c.corp) > 0 {
			w.Queue(`INSERT INTO {s}.group_chats (corp_id, chat_id, owner_id, name, created_at, updated_at)
				SELECT u.corp, u.chat, u.owner, u.name, u.at, u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(corp, chat, owner, name, at)
				ON CONFLICT (corp_id, chat_id) DO NOTHING`, c.corp, c.chat, c.a, c.b, c.at)
		}
		if c := r.joined; len(c.corp) > 0 {
			// Counting only rows actually inserted keeps the counts right if
			// a member is reported joined twice without leaving in between.
			w.Queue(`WITH u AS (
					SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::bigint[], $10::bigint[])
						AS u(corp, chat, member, mtype, scene, inviter, nick, at, cpos, ppos)
				), ins AS (
					INSERT INTO {s}.group_members (corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname)
					SELECT u.corp, u.chat, u.member, u.mtype, u.at, u.scene, u.inviter, u.nick FROM u
					ON CONFLICT DO NOTHING
					RETURNING corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname
				), hist AS (
					INSERT INTO {s}.group_membership_history (corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname, join_commit, join_prepare)
					SELECT ins.corp_id, ins.chat_id, ins.member_id, ins.member_type, ins.joined_at, ins.join_scene, ins.inviter_id, ins.nickname, u.cpos, u.ppos
					FROM ins JOIN u ON ins.corp_id = u.corp AND ins.chat_id = u.chat
				)
				UPDATE {s}.group_chats AS g SET
					staff_members = g.staff_members + coalesce(n.staff, 0),
					customer_members = g.customer_members + coalesce(n.customers, 0),
					updated_at = u.at
				FROM u LEFT JOIN (
					SELECT corp_id, chat_id, count(*) FILTER (WHERE member_type = 'staff') AS staff,
						count(*) FILTER (WHERE member_type = 'customer') AS customers
					FROM ins GROUP BY corp_id, chat_id
				) AS n ON n.corp_id = u.corp AND n.chat_id = u.chat
				WHERE g.corp_id = u.corp AND g.chat_id = u.chat`,
				c.corp, c.chat, c.a, c.b, c.c, c.d, c.e, c.at, c.commit, c.prepare)
		}
		if c := r.left; len(c.corp) > 0 {
			w.Queue(`WITH u AS (
					SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS u(corp, chat, member, mtype, scene, at)
				), del AS (
					DELETE FROM {s}.group_members AS m USING u
					WHERE m.corp_id = u.corp AND m.chat_id = u.chat AND m.member_type = u.mtype AND m.member_id = u.member
					RETURNING m.corp_id, m.chat_id, m.member_type
				), hist AS (
					UPDATE {s}.group_membership_history AS h SET left_at = u.at, quit_scene = u.scene FROM u
					WHERE h.corp_id = u.corp AND h.chat_id = u.chat AND h.member_type = u.mtype AND h.member_id = u.member AND h.left_at IS NULL
				)
				UPDATE {s}.group_chats AS g SET
					staff_members = g.staff_members - coalesce(n.staff, 0),
					customer_members = g.customer_members - coalesce(n.customers, 0),
					updated_at = u.at
				FROM u LEFT JOIN (
					SELECT corp_id, chat_id, count(*) FILTER (WHERE member_type = 'staff') AS staff,
						count(*) FILTER (WHERE member_type = 'customer') AS customers
					FROM del GROUP BY corp_id, chat_id
				) AS n ON n.corp_id = u.corp AND n.chat_id = u.chat
				WHERE g.corp_id = u.corp AND g.chat_id = u.chat`,
				c.corp, c.chat, c.a, c.b, c.c, c.at)
		}
		if c := r.owner; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.group_chats AS g SET owner_id = u.owner, owner_changes = g.owner_changes + 1, updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(corp, chat, owner, at)
				WHERE g.corp_id = u.corp AND g.chat_id = u.chat`, c.corp, c.chat, c.a, c.at)
		}
		if c := r.renamed; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.group_chats AS g SET name = u.name, updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(corp, chat, name, at)
				WHERE g.corp_id = u.corp AND g.chat_id = u.chat`, c.corp, c.chat, c.a, c.at)
		}
		if c := r.notice; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.group_chats AS g SET notice = u.notice, updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(corp, chat, notice, at)
				WHERE g.corp_id = u.corp AND g.chat_id = u.chat`, c.corp, c.chat, c.a, c.at)
		}
		if c := r.dismissed; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.group_chats AS g SET status = 'dismissed', dismissed_at = u.at, updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(corp, chat, at)
				WHERE g.corp_id = u.corp AND g.chat_id = u.chat`, c.corp, c.chat, c.at)
		}
		for _, e := range r.erased {
			mtype, member := erasedMember(e)
			w.Queue(`UPDATE {s}.group_members SET nickname = ''
				WHERE corp_id = $1 AND member_type = $2 AND member_id = $3`, e.CorpID, mtype, member)
			w.Queue(`UPDATE {s}.group_membership_history SET nickname = ''
				WHERE corp_id = $1 AND member_type = $2 AND member_id = $3`, e.CorpID, mtype, member)
		}
	}
	return nil
}
