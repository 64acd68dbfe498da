package projections

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/events"
)

// TestGroupBatchLoadsOnlyTheMembersItNames: a batch on a chat of 300
// members loads the member rows and open stints its facts name (and, for
// an erasure, every stint of the erased member, closed ones included),
// not the chat's whole membership, and leaves the tables as applying each
// event alone with the SQL statements of before the fold does.
func TestGroupBatchLoadsOnlyTheMembersItNames(t *testing.T) {
	pool := newDB(t)
	w := newWorld(t)
	join := func(m int, chat, member, nick string) {
		w.add(m, &events.GroupChatMemberJoined{ChatID: chat, MemberID: member, MemberType: events.MemberCustomer,
			JoinScene: "qrcode", PII: events.GroupMemberPII{Nickname: nick}})
	}
	leave := func(m int, chat, member string) {
		w.add(m, &events.GroupChatMemberLeft{ChatID: chat, MemberID: member, MemberType: events.MemberCustomer, QuitScene: "left"})
	}
	w.add(0, &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "big"})
	w.add(0, &events.GroupChatCreated{ChatID: "g2", OwnerID: "s1", Name: "small"})
	for i := range 300 {
		join(1, "g1", fmt.Sprintf("cu%d", i), fmt.Sprintf("nick %d", i))
	}
	join(2, "g2", "cu3", "cu3 in g2")
	leave(3, "g1", "cu3") // a closed stint with a nickname, in g1
	leave(3, "g1", "cu4")
	before := len(allEvents(t, w))

	// The batch under test.
	join(4, "g1", "cu300", "newcomer")
	leave(4, "g1", "cu10")
	join(4, "g1", "cu4", "back again")
	w.add(4, &events.CustomerErased{CustomerID: "cu3"})
	w.add(4, &events.GroupChatRenamed{ChatID: "g1", Name: "bigger"})
	evs := allEvents(t, w)

	freshSchema(t, pool, "narrow_fold", Groups{})
	freshSchema(t, pool, "narrow_sql", legacyGroups{})
	applyEvents(t, pool, "narrow_fold", Groups{}, evs[:before], 5000)
	wr := sendBatch(t, pool, "narrow_fold", Groups{}, evs[before:])
	loaded := map[string]int{}
	for _, tables := range wr.folds[Groups{}.Name()].loaded {
		for tbl, rows := range tables {
			loaded[tbl] += len(rows)
		}
	}
	// Members: cu10 (leaving g1) and cu3 (erased; a member of g2 only).
	// Stints: cu10's open one, cu3's closed one in g1 and open one in g2
	// (cu4's closed stint is not loaded: its join changes no stint).
	// Chats: g1 (its facts) and g2 (the erasure reaches it).
	want := map[string]int{"group_chats": 2, "group_members": 2, "group_membership_history": 3}
	for tbl, n := range want {
		if loaded[tbl] != n {
			t.Errorf("the batch loaded %d rows of %s, want %d (all loaded: %v)", loaded[tbl], tbl, n, loaded)
		}
	}

	applyEvents(t, pool, "narrow_sql", legacyGroups{}, evs, 1)
	for _, tbl := range (Groups{}).Tables() {
		got, want := tableDump(t, pool, "narrow_fold", tbl), tableDump(t, pool, "narrow_sql", tbl)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, event by event %d; first difference: %s", tbl, len(got), len(want), firstDiff(got, want))
		}
	}
	// The erasure blanked the closed stint's nickname too.
	if n := rows(t, pool, `SELECT count(*) FROM narrow_fold.group_membership_history WHERE member_id = 'cu3' AND nickname <> ''`); !slices.Equal(n, []string{"0"}) {
		t.Errorf("cu3's stints still carrying a nickname: %v", n)
	}
}

// TestOutreachChatBatchLoadsOnlyTheMembersItNames: outreach's group
// members are loaded as the groups projection's are: a join or a leave
// loads its customer's row only, a dismissal the chat's every row (it
// empties the chat); the rows written are a clean rebuild's.
func TestOutreachChatBatchLoadsOnlyTheMembersItNames(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	w := newWorld(t)
	join := func(chat, member string) {
		w.add(1, &events.GroupChatMemberJoined{ChatID: chat, MemberID: member, MemberType: events.MemberCustomer, JoinScene: "qrcode"})
	}
	w.add(0, &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "big"})
	w.add(0, &events.GroupChatCreated{ChatID: "g2", OwnerID: "s1", Name: "closing"})
	for i := range 300 {
		join("g1", fmt.Sprintf("cu%d", i))
	}
	for i := range 5 {
		join("g2", fmt.Sprintf("cu%d", i))
	}
	before := len(allEvents(t, w))
	join("g1", "cu300")
	w.add(2, &events.GroupChatMemberLeft{ChatID: "g1", MemberID: "cu10", MemberType: events.MemberCustomer, QuitScene: "left"})
	w.add(2, &events.GroupChatDismissed{ChatID: "g2"})
	evs := allEvents(t, w)

	freshSchema(t, pool, "narrow_outreach", Outreach{})
	applyEvents(t, pool, "narrow_outreach", Outreach{}, evs[:before], 5000)
	wr := sendBatch(t, pool, "narrow_outreach", Outreach{}, evs[before:])
	n := 0
	for _, run := range wr.folds {
		for _, tables := range run.loaded {
			n += len(tables["outreach_group_members"])
		}
	}
	if n != 6 { // cu10's row in g1, g2's 5
		t.Errorf("the batch loaded %d outreach_group_members rows, want 6", n)
	}
	var res RebuildResult
	if _, err := buildShadows(ctx, pool, w.log, []Projection{Outreach{}}, RebuildOptions{BatchSize: 5000, Fresh: true, Logger: discardLogger()}, &res); err != nil {
		t.Fatal(err)
	}
	got, want := tableDump(t, pool, "narrow_outreach", "outreach_group_members"), tableDump(t, pool, shadowSchema(Outreach{}), "outreach_group_members")
	if len(want) != 300 || !slices.Equal(got, want) {
		t.Errorf("outreach_group_members: %d rows, a clean rebuild %d; first difference: %s", len(got), len(want), firstDiff(got, want))
	}
}

// sendBatch applies evs to p in schema as one batch and returns the
// Writer that sent it, for what it loaded.
func sendBatch(t *testing.T, pool *pgxpool.Pool, schema string, p Projection, evs []Event) *Writer {
	t.Helper()
	ctx := context.Background()
	wr := newWriter(schema, &pgx.Batch{})
	if err := queueEvents(wr, p, evs); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return wr.Send(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	return wr
}
