package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged group events.
const (
	grpCreated int16 = iota + 1
	grpJoined
	grpLeft
	grpOwner
	grpRenamed
	grpNotice
	grpDismissed
	grpErased
)

// bulkPlan implements bulkBuilder: a rebuild stages the group chat events
// and erasures, and folds each chat's events — its own and the erasures of
// the customers and staff members that ever joined it as such, in log
// order — into its group_chats row, current members and membership
// history, exactly as applyBatch's statements leave them.
func (Groups) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: []string{
			"kind smallint", "corp text", "chat text", "cpos bigint", "ppos bigint", "at timestamptz",
			"member text", "mtype text", "owner text", "txt text", "scene text", "inviter text", "nick text",
		},
		stage: stageGroup,
		// Erasures reach every chat the customer (staff member) joined as a
		// customer (staff member); they have no rows in other chats.
		query: `WITH k AS (SELECT DISTINCT corp, chat, member, mtype FROM {s}.bulk_staging WHERE kind = 2)
			SELECT corp, chat, cpos, ppos, kind, at, member, mtype, owner, txt, scene, inviter, nick
			FROM {s}.bulk_staging WHERE kind <= 7
			UNION ALL
			SELECT k.corp, k.chat, d.cpos, d.ppos, d.kind, d.at, d.member, d.mtype, d.owner, d.txt, d.scene, d.inviter, d.nick
			FROM k JOIN {s}.bulk_staging d ON d.kind = 8 AND d.corp = k.corp AND d.member = k.member AND d.mtype = k.mtype
			ORDER BY 1, 2, 3, 4`,
		outputs: map[string][]string{
			"group_chats": {"corp_id", "chat_id", "owner_id", "name", "notice", "status", "created_at", "dismissed_at",
				"staff_members", "customer_members", "owner_changes", "updated_at"},
			"group_members": {"corp_id", "chat_id", "member_id", "member_type", "joined_at", "join_scene", "inviter_id", "nickname"},
			"group_membership_history": {"corp_id", "chat_id", "member_id", "member_type", "joined_at", "join_scene", "inviter_id",
				"nickname", "left_at", "quit_scene", "join_commit", "join_prepare"},
		},
		newFold: func() folder { return &groupFold{} },
	}
}

func stageGroup(e Event) []any {
	corp, at := e.CorpID, e.OccurredAt
	pos := func(kind int16, chat any) []any {
		r := make([]any, 13)
		r[0], r[1], r[2], r[3], r[4], r[5] = kind, corp, chat, int64(e.Position.Commit), int64(e.Position.Prepare), at
		return r
	}
	switch p := e.Payload.(type) {
	case *events.GroupChatCreated:
		r := pos(grpCreated, p.ChatID)
		r[8], r[9] = p.OwnerID, p.Name
		return r
	case *events.GroupChatMemberJoined:
		r := pos(grpJoined, p.ChatID)
		r[6], r[7], r[10], r[11], r[12] = p.MemberID, p.MemberType, p.JoinScene, p.InviterID, p.PII.Nickname
		return r
	case *events.GroupChatMemberLeft:
		r := pos(grpLeft, p.ChatID)
		r[6], r[7], r[10] = p.MemberID, p.MemberType, p.QuitScene
		return r
	case *events.GroupChatOwnerChanged:
		r := pos(grpOwner, p.ChatID)
		r[8] = p.ToStaffID
		return r
	case *events.GroupChatRenamed:
		r := pos(grpRenamed, p.ChatID)
		r[9] = p.Name
		return r
	case *events.GroupChatNoticeChanged:
		r := pos(grpNotice, p.ChatID)
		r[9] = p.Notice
		return r
	case *events.GroupChatDismissed:
		return pos(grpDismissed, p.ChatID)
	case *events.CustomerErased, *events.StaffErased:
		r := pos(grpErased, nil)
		r[7], r[6] = erasedMember(e)
		return r
	}
	return nil
}

type groupRow struct {
	owner, name, notice, status    string
	createdAt, updatedAt           time.Time
	dismissedAt                    *time.Time
	staff, customers, ownerChanges int64
}

// groupStint is a group_membership_history row; while it is open (leftAt
// nil) the member's group_members row holds the same values.
type groupStint struct {
	member, mtype, scene, inviter, nick string
	joinedAt                            time.Time
	leftAt                              *time.Time
	quitScene                           *string
	commit, prepare                     int64
}

// groupFold holds one (corp, chat) at a time.
//
// A member row is inserted exactly when its stint is (a join of a present
// member inserts neither), and a leave deletes the member row and closes
// every open stint of the member, so a member is present exactly when it
// has one open stint: members maps (member_type, member_id) to it.
type groupFold struct {
	key     [2]string
	started bool
	row     groupRow
	exists  bool
	stints  []groupStint
	members map[[2]string]int
}

type stagedGroup struct {
	corp, chat                                      string
	cpos, ppos                                      int64
	kind                                            int16
	at                                              time.Time
	member, mtype, owner, txt, scene, inviter, nick *string
}

func (f *groupFold) add(rows pgx.Rows, out *bulkOut) error {
	var s stagedGroup
	if err := rows.Scan(&s.corp, &s.chat, &s.cpos, &s.ppos, &s.kind, &s.at, &s.member, &s.mtype, &s.owner, &s.txt,
		&s.scene, &s.inviter, &s.nick); err != nil {
		return err
	}
	if k := [2]string{s.corp, s.chat}; !f.started || k != f.key {
		f.finish(out)
		members := f.members
		if members == nil {
			members = map[[2]string]int{}
		}
		clear(members)
		*f = groupFold{key: k, started: true, stints: f.stints[:0], members: members}
	}
	r := &f.row
	switch s.kind {
	case grpCreated:
		// INSERT ... ON CONFLICT DO NOTHING.
		if !f.exists {
			*r = groupRow{owner: str(s.owner), name: str(s.txt), status: "active", createdAt: s.at, updatedAt: s.at}
			f.exists = true
		}
	case grpJoined:
		// The member and stint rows are inserted whether the chat row
		// exists or not; only inserted members are counted, but updated_at
		// moves either way.
		k := [2]string{str(s.mtype), str(s.member)}
		if _, ok := f.members[k]; !ok {
			f.members[k] = len(f.stints)
			f.stints = append(f.stints, groupStint{member: k[1], mtype: k[0], scene: str(s.scene), inviter: str(s.inviter),
				nick: str(s.nick), joinedAt: s.at, commit: s.cpos, prepare: s.ppos})
			if f.exists {
				ds, dc := memberCount(k[0])
				r.staff, r.customers = r.staff+ds, r.customers+dc
			}
		}
		if f.exists {
			r.updatedAt = s.at
		}
	case grpLeft:
		// The member row is deleted and its open stint closed whether the
		// chat row exists or not; only deleted members are counted, but
		// updated_at moves either way.
		k := [2]string{str(s.mtype), str(s.member)}
		if i, ok := f.members[k]; ok {
			at, scene := s.at, str(s.scene)
			f.stints[i].leftAt, f.stints[i].quitScene = &at, &scene
			delete(f.members, k)
			if f.exists {
				ds, dc := memberCount(k[0])
				r.staff, r.customers = r.staff-ds, r.customers-dc
			}
		}
		if f.exists {
			r.updatedAt = s.at
		}
	case grpOwner:
		if f.exists {
			r.owner, r.ownerChanges, r.updatedAt = str(s.owner), r.ownerChanges+1, s.at
		}
	case grpRenamed:
		if f.exists {
			r.name, r.updatedAt = str(s.txt), s.at
		}
	case grpNotice:
		if f.exists {
			r.notice, r.updatedAt = str(s.txt), s.at
		}
	case grpDismissed:
		if f.exists {
			at := s.at
			r.status, r.dismissedAt, r.updatedAt = "dismissed", &at, s.at
		}
	case grpErased:
		// The erased member's row and stints, open or closed, lose their
		// nickname; the chat row is untouched.
		for i := range f.stints {
			if st := &f.stints[i]; st.mtype == str(s.mtype) && st.member == str(s.member) {
				st.nick = ""
			}
		}
	default:
		return fmt.Errorf("unknown staged kind %d", s.kind)
	}
	return nil
}

// memberCount is what one member of type mtype adds to (staff_members,
// customer_members).
func memberCount(mtype string) (staff, customers int64) {
	switch mtype {
	case events.MemberStaff:
		return 1, 0
	case events.MemberCustomer:
		return 0, 1
	}
	return 0, 0
}

func (f *groupFold) finish(out *bulkOut) {
	if !f.started {
		return
	}
	corp, chat := f.key[0], f.key[1]
	if r := f.row; f.exists {
		out.emit("group_chats", corp, chat, r.owner, r.name, r.notice, r.status, r.createdAt, r.dismissedAt,
			r.staff, r.customers, r.ownerChanges, r.updatedAt)
	}
	for i, st := range f.stints {
		out.emit("group_membership_history", corp, chat, st.member, st.mtype, st.joinedAt, st.scene, st.inviter, st.nick,
			st.leftAt, st.quitScene, st.commit, st.prepare)
		if j, ok := f.members[[2]string{st.mtype, st.member}]; ok && j == i {
			out.emit("group_members", corp, chat, st.member, st.mtype, st.joinedAt, st.scene, st.inviter, st.nick)
		}
	}
}
