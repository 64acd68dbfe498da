package projections

import (
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// Groups is the "groups" projection:
//
//   - group_chats: one row per customer group with owner, status and member
//     counts by type;
//   - group_members: the current members;
//   - group_membership_history: one row per stint of a member in a group
//     (joined with scene and inviter, left with scene); a rejoin adds a
//     row, nothing is overwritten.
//
// An erasure of a customer (staff member) blanks its nickname in every
// chat it joined as a customer (staff member), in its current membership
// and in every stint, closed ones included.
//
// It is a fold projection (see foldProjection): one fold per (corp, chat)
// over the chat's events and the erasures of the members that ever
// joined it.
type Groups struct{}

// Name implements Projection.
func (Groups) Name() string { return "groups" }

// Tables implements Projection.
func (Groups) Tables() []string {
	return []string{"group_chats", "group_members", "group_membership_history"}
}

// Migrations implements Projection.
func (Groups) Migrations() []string { return migrations("groups") }

// Apply implements Projection: it hands e's fact to w's fold.
func (g Groups) Apply(w *Writer, e Event) error { return w.addFacts(g, []Event{e}) }

func (Groups) definition() *definition { return groupsDefinition }

// Kinds of group facts.
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

// Columns of a group fact.
const (
	gfCpos = iota + 3
	gfPpos
	gfAt
	gfMember
	gfMtype
	gfOwner
	gfText
	gfScene
	gfInviter
	gfNick
)

var groupsDefinition = prepared(&definition{
	staging: []string{
		"kind smallint", "corp text", "chat text", "cpos bigint", "ppos bigint", "at timestamptz",
		"member text", "mtype text", "owner text", "txt text", "scene text", "inviter text", "nick text",
	},
	key:  []string{"corp", "chat"},
	fact: groupFact,
	tables: []foldTable{{
		name: "group_chats",
		cols: []string{"corp_id text", "chat_id text", "owner_id text", "name text", "notice text", "status text",
			"created_at timestamptz", "dismissed_at timestamptz", "staff_members bigint", "customer_members bigint",
			"owner_changes bigint", "updated_at timestamptz"},
		pk:  []string{"corp_id", "chat_id"},
		key: []string{"corp_id", "chat_id"},
	}, {
		name: "group_members",
		cols: []string{"corp_id text", "chat_id text", "member_id text", "member_type text", "joined_at timestamptz",
			"join_scene text", "inviter_id text", "nickname text"},
		pk:  []string{"corp_id", "chat_id", "member_type", "member_id"},
		key: []string{"corp_id", "chat_id"},
		// A fact changes only the member it names: a batch loads those
		// members, not the chat's whole membership.
		narrow: []string{"mtype", "member"}, narrowCols: []string{"member_type", "member_id"},
	}, {
		name: "group_membership_history",
		cols: []string{"corp_id text", "chat_id text", "member_id text", "member_type text", "joined_at timestamptz",
			"join_scene text", "inviter_id text", "nickname text", "left_at timestamptz", "quit_scene text",
			"join_commit bigint", "join_prepare bigint"},
		pk:  []string{"join_commit", "join_prepare"},
		key: []string{"corp_id", "chat_id"},
		// Only open stints change (a leave closes them), and only those of
		// the members the batch's facts name; an erasure's fanout loads
		// the closed stints it blanks.
		where:  "t.left_at IS NULL",
		narrow: []string{"mtype", "member"}, narrowCols: []string{"member_type", "member_id"},
	}},
	newFold: func() keyFold { return &groupFold{} },
	fanouts: []fanout{{
		// An erasure blanks the nickname of the customer (staff member) in
		// every chat it joined as such.
		kind: grpErased, from: grpJoined, match: []string{"corp", "member", "mtype"},
		table: "group_membership_history", tableKey: []string{"corp_id", "chat_id"},
		tableMatch:  []string{"corp_id", "member_id", "member_type"},
		loadMatched: true,
	}},
})

func groupFact(e Event) []any {
	row := func(kind int16, chat any) []any {
		r := make([]any, 13)
		r[0], r[1], r[2], r[gfCpos], r[gfPpos], r[gfAt] = kind, e.CorpID, chat, int64(e.Position.Commit), int64(e.Position.Prepare), e.OccurredAt
		return r
	}
	switch p := e.Payload.(type) {
	case *events.GroupChatCreated:
		r := row(grpCreated, p.ChatID)
		r[gfOwner], r[gfText] = p.OwnerID, p.Name
		return r
	case *events.GroupChatMemberJoined:
		r := row(grpJoined, p.ChatID)
		r[gfMember], r[gfMtype], r[gfScene], r[gfInviter], r[gfNick] = p.MemberID, p.MemberType, p.JoinScene, p.InviterID, p.PII.Nickname
		return r
	case *events.GroupChatMemberLeft:
		r := row(grpLeft, p.ChatID)
		r[gfMember], r[gfMtype], r[gfScene] = p.MemberID, p.MemberType, p.QuitScene
		return r
	case *events.GroupChatOwnerChanged:
		r := row(grpOwner, p.ChatID)
		r[gfOwner] = p.ToStaffID
		return r
	case *events.GroupChatRenamed:
		r := row(grpRenamed, p.ChatID)
		r[gfText] = p.Name
		return r
	case *events.GroupChatNoticeChanged:
		r := row(grpNotice, p.ChatID)
		r[gfText] = p.Notice
		return r
	case *events.GroupChatDismissed:
		return row(grpDismissed, p.ChatID)
	case *events.CustomerErased, *events.StaffErased:
		r := row(grpErased, nil)
		r[gfMtype], r[gfMember] = erasedMember(e)
		return r
	}
	return nil
}

// erasedMember is the member an erasure concerns: a customer
// (customer.erased) or a staff member (staff.erased), whose nicknames are
// sealed under their own key.
func erasedMember(e Event) (mtype, member string) {
	switch p := e.Payload.(type) {
	case *events.CustomerErased:
		return events.MemberCustomer, p.CustomerID
	case *events.StaffErased:
		return events.MemberStaff, p.StaffID
	}
	return "", ""
}

type groupRow struct {
	owner, name, notice, status    string
	createdAt, updatedAt           time.Time
	dismissedAt                    *time.Time
	staff, customers, ownerChanges int64
}

// groupMember is a group_members row (its corp and chat are the fold's).
type groupMember struct {
	member, mtype, scene, inviter, nick string
	joinedAt                            time.Time
	gone                                bool
}

// groupStint is a group_membership_history row.
type groupStint struct {
	member, mtype, scene, inviter, nick string
	joinedAt                            time.Time
	leftAt                              *time.Time
	quitScene                           *string
	commit, prepare                     int64
}

// groupFold is one (corp, chat): its group_chats row, its members and its
// stints (the open ones and those an erasure blanks; a rebuild has them
// all). It does what the statements of the SQL implementation did, event
// by event: a join inserts the member and a stint unless the member is
// present, a leave deletes the member and closes every open stint of it;
// the chat's counts and updated_at follow when the chat row exists.
type groupFold struct {
	key     foldKey
	row     groupRow
	exists  bool
	members []groupMember
	present map[[2]string]int // (member_type, member_id) -> index in members
	stints  []groupStint
}

func (f *groupFold) seed(k foldKey, rows map[string][][]any) {
	present := f.present
	if present == nil {
		present = map[[2]string]int{}
	}
	clear(present)
	*f = groupFold{key: k, present: present, members: f.members[:0], stints: f.stints[:0]}
	for _, r := range rows["group_chats"] {
		f.exists = true
		f.row = groupRow{owner: vStr(r, 2), name: vStr(r, 3), notice: vStr(r, 4), status: vStr(r, 5), createdAt: vTime(r, 6),
			dismissedAt: vTimePtr(r, 7), staff: vInt(r, 8), customers: vInt(r, 9), ownerChanges: vInt(r, 10), updatedAt: vTime(r, 11)}
	}
	for _, r := range rows["group_members"] {
		m := groupMember{member: vStr(r, 2), mtype: vStr(r, 3), joinedAt: vTime(r, 4), scene: vStr(r, 5), inviter: vStr(r, 6), nick: vStr(r, 7)}
		f.present[[2]string{m.mtype, m.member}] = len(f.members)
		f.members = append(f.members, m)
	}
	for _, r := range rows["group_membership_history"] {
		f.stints = append(f.stints, groupStint{member: vStr(r, 2), mtype: vStr(r, 3), joinedAt: vTime(r, 4), scene: vStr(r, 5),
			inviter: vStr(r, 6), nick: vStr(r, 7), leftAt: vTimePtr(r, 8), quitScene: vStrPtr(r, 9), commit: vInt(r, 10), prepare: vInt(r, 11)})
	}
}

func (f *groupFold) add(s []any) error {
	r := &f.row
	at := vTime(s, gfAt)
	switch vKind(s) {
	case grpCreated:
		// INSERT ... ON CONFLICT DO NOTHING.
		if !f.exists {
			*r = groupRow{owner: vStr(s, gfOwner), name: vStr(s, gfText), status: "active", createdAt: at, updatedAt: at}
			f.exists = true
		}
	case grpJoined:
		// The member and stint rows are inserted whether the chat row
		// exists or not; only inserted members are counted, but updated_at
		// moves either way.
		k := [2]string{vStr(s, gfMtype), vStr(s, gfMember)}
		if _, ok := f.present[k]; !ok {
			m := groupMember{member: k[1], mtype: k[0], scene: vStr(s, gfScene), inviter: vStr(s, gfInviter), nick: vStr(s, gfNick), joinedAt: at}
			f.present[k] = len(f.members)
			f.members = append(f.members, m)
			f.stints = append(f.stints, groupStint{member: m.member, mtype: m.mtype, scene: m.scene, inviter: m.inviter,
				nick: m.nick, joinedAt: at, commit: vInt(s, gfCpos), prepare: vInt(s, gfPpos)})
			if f.exists {
				ds, dc := memberCount(k[0])
				r.staff, r.customers = r.staff+ds, r.customers+dc
			}
		}
		if f.exists {
			r.updatedAt = at
		}
	case grpLeft:
		// The member row is deleted and its open stints closed whether
		// the chat row exists or not; only deleted members are counted, but
		// updated_at moves either way.
		k := [2]string{vStr(s, gfMtype), vStr(s, gfMember)}
		if i, ok := f.present[k]; ok {
			f.members[i].gone = true
			delete(f.present, k)
			if f.exists {
				ds, dc := memberCount(k[0])
				r.staff, r.customers = r.staff-ds, r.customers-dc
			}
		}
		scene := vStr(s, gfScene)
		for i := range f.stints {
			if st := &f.stints[i]; st.leftAt == nil && st.mtype == k[0] && st.member == k[1] {
				st.leftAt, st.quitScene = &at, &scene
			}
		}
		if f.exists {
			r.updatedAt = at
		}
	case grpOwner:
		if f.exists {
			r.owner, r.ownerChanges, r.updatedAt = vStr(s, gfOwner), r.ownerChanges+1, at
		}
	case grpRenamed:
		if f.exists {
			r.name, r.updatedAt = vStr(s, gfText), at
		}
	case grpNotice:
		if f.exists {
			r.notice, r.updatedAt = vStr(s, gfText), at
		}
	case grpDismissed:
		if f.exists {
			r.status, r.dismissedAt, r.updatedAt = "dismissed", &at, at
		}
	case grpErased:
		// The erased member's row and stints, open or closed, lose their
		// nickname; the chat row is untouched.
		mtype, member := vStr(s, gfMtype), vStr(s, gfMember)
		if i, ok := f.present[[2]string{mtype, member}]; ok {
			f.members[i].nick = ""
		}
		for i := range f.stints {
			if st := &f.stints[i]; st.mtype == mtype && st.member == member {
				st.nick = ""
			}
		}
	default:
		return fmt.Errorf("unknown group fact kind %d", vKind(s))
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
	corp, chat := f.key[0], f.key[1]
	if r := f.row; f.exists {
		out.emit("group_chats", corp, chat, r.owner, r.name, r.notice, r.status, r.createdAt, r.dismissedAt,
			r.staff, r.customers, r.ownerChanges, r.updatedAt)
	}
	for _, m := range f.members {
		if !m.gone {
			out.emit("group_members", corp, chat, m.member, m.mtype, m.joinedAt, m.scene, m.inviter, m.nick)
		}
	}
	for _, st := range f.stints {
		out.emit("group_membership_history", corp, chat, st.member, st.mtype, st.joinedAt, st.scene, st.inviter, st.nick,
			st.leftAt, st.quitScene, st.commit, st.prepare)
	}
}
