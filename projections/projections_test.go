package projections

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custody/custody/events"
)

// salesScenario appends a small corp's history touching every projection.
// The live runner catches up in the middle (before the erasure) so the
// erasure is applied live; the clean rebuild sees the erased log.
func salesScenario(t *testing.T, w *world, r *Runner) {
	t.Helper()
	pii := func(name, remark string, phones ...string) events.RelationPII {
		return events.RelationPII{CustomerName: name, Remark: remark, Phones: phones}
	}
	w.add(0, &events.StaffJoined{StaffID: "s1", Capacity: 100, PII: events.StaffPII{Name: "Alice"}})
	w.add(0, &events.StaffJoined{StaffID: "s2", PII: events.StaffPII{Name: "Bob"}})
	w.add(0, &events.StaffJoined{StaffID: "s3", Capacity: 50, PII: events.StaffPII{Name: "Carol"}})
	w.add(1, &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s1", Initiator: "customer", AddWay: 1, State: "qr-spring",
		Tags: []string{"vip"}, StartedBy: "added", PII: pii("Wang", "big buyer", "13800000000")})
	w.add(2, &events.CustomerRelationStarted{CustomerID: "cu2", StaffID: "s1", Initiator: "staff", AddWay: 3, StartedBy: "added", PII: pii("Li", "")})
	w.add(3, &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s2", Initiator: "staff", StartedBy: "added", PII: pii("Wang", "from fair")})
	w.add(4, &events.CustomerRelationEdited{CustomerID: "cu1", StaffID: "s1", Tags: []string{"vip", "y2026"}, PII: pii("", "bigger buyer", "13800000000")})
	w.add(5, &events.MomentsOptedOut{CustomerID: "cu1", StaffID: "s1", Source: "survey"})
	w.add(6, &events.CustomerRelationEnded{CustomerID: "cu2", StaffID: "s1", Reason: "deleted_by_customer"})
	w.add(10, &events.HandoverRequested{HandoverID: "h1", CustomerID: "cu1", Kind: "in_service", FromStaffID: "s1", ToStaffID: "s3", Deadline: minute(1450), PII: events.HandoverRequestPII{Message: "hi"}})
	w.add(11, &events.HandoverCompleted{HandoverID: "h1", CustomerID: "cu1", FromStaffID: "s1", ToStaffID: "s3"})
	w.add(11, &events.CustomerRelationEnded{CustomerID: "cu1", StaffID: "s1", Reason: "handed_over", HandoverID: "h1"})
	w.add(11, &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s3", Initiator: "staff", StartedBy: "handover", HandoverID: "h1",
		Tags: []string{"vip", "y2026"}, PII: pii("Wang", "bigger buyer", "13800000000")})
	w.add(12, &events.HandoverRequested{HandoverID: "h2", CustomerID: "cu1", Kind: "in_service", FromStaffID: "s2", ToStaffID: "s1", Deadline: minute(1452)})
	w.add(13, &events.HandoverRefused{HandoverID: "h2", CustomerID: "cu1"})
	w.add(20, &events.CustomerRelationStarted{CustomerID: "cu3", StaffID: "s2", Initiator: "customer", AddWay: 1, StartedBy: "added", PII: pii("Zhao", "")})
	w.add(21, &events.StaffDeparted{StaffID: "s2"})
	w.add(22, &events.HandoverRequested{HandoverID: "h3", CustomerID: "cu3", Kind: "resigned", FromStaffID: "s2", ToStaffID: "s3", Deadline: minute(1462)})
	w.add(23, &events.HandoverFailed{HandoverID: "h3", CustomerID: "cu3", Reason: "target_at_capacity"})
	w.add(24, &events.HandoverRequested{HandoverID: "h4", CustomerID: "cu1", Kind: "resigned", FromStaffID: "s2", ToStaffID: "s1", Deadline: minute(1464)})
	w.add(25, &events.StaffSlotReserved{StaffID: "s1", CustomerID: "cu2", Reason: "added"})
	w.add(26, &events.StaffSlotReserved{StaffID: "s1", CustomerID: "cu1", Reason: "handover", HandoverID: "h4"})
	w.add(27, &events.StaffSlotReleased{StaffID: "s1", CustomerID: "cu2", Reason: "relation_ended"})
	w.add(28, &events.StaffCapacityChanged{StaffID: "s3", Capacity: 200})
	w.add(30, &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "VIP"})
	w.add(31, &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "s1", MemberType: "staff", JoinScene: "invited"})
	w.add(32, &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "cu1", MemberType: "customer", JoinScene: "qrcode", InviterID: "s1", PII: events.GroupMemberPII{Nickname: "W"}})
	w.add(33, &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "cu2", MemberType: "customer", JoinScene: "link", PII: events.GroupMemberPII{Nickname: "L"}})
	w.add(34, &events.GroupChatMemberLeft{ChatID: "g1", MemberID: "cu2", MemberType: "customer", QuitScene: "left"})
	w.add(35, &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "cu2", MemberType: "customer", JoinScene: "invited", InviterID: "s1", PII: events.GroupMemberPII{Nickname: "L2"}})
	w.add(36, &events.GroupChatOwnerChanged{ChatID: "g1", FromStaffID: "s1", ToStaffID: "s3", Reason: "in_service"})
	w.add(37, &events.GroupChatRenamed{ChatID: "g1", Name: "VIP-2026"})
	w.add(38, &events.GroupChatNoticeChanged{ChatID: "g1", Notice: "sale"})
	w.add(39, &events.GroupChatCreated{ChatID: "g2", OwnerID: "s3", Name: "Old"})
	w.add(40, &events.GroupChatDismissed{ChatID: "g2"})
	w.add(41, &events.ConsentRecorded{CustomerID: "cu1", Purpose: "marketing", State: "agree", ChangedAt: minute(41)})
	w.add(42, &events.ConsentRecorded{CustomerID: "cu1", Purpose: "chat_archive", State: "default_agree", ChangedAt: minute(42)})
	w.add(43, &events.ConsentRecorded{CustomerID: "cu1", Purpose: "marketing", State: "disagree", ChangedAt: minute(43)})
	w.add(44, &events.ConsentRecorded{CustomerID: "cu1", Purpose: "marketing", State: "agree", ChangedAt: minute(40)}) // ingested late
	w.add(45, &events.MomentsOptedIn{CustomerID: "cu1", StaffID: "s1"})
	w.add(46, &events.MomentsOptedOut{CustomerID: "cu1", StaffID: "s3", Source: "wecom-tool"})
	catchUp(t, r)

	w.add(50, &events.CustomerErased{CustomerID: "cu1"})
	if err := w.log.Erase(context.Background(), events.CustomerSubject("c1", "cu1")); err != nil {
		t.Fatal(err)
	}
	w.add(1500, &events.CustomerRelationStarted{CustomerID: "cu4", StaffID: "s3", Initiator: "staff", AddWay: 2, StartedBy: "added", PII: pii("Sun", "")})
	w.add(1510, &events.CustomerRelationEnded{CustomerID: "cu4", StaffID: "s3", Reason: "deleted_by_staff"})
	// Another corp's rows must never show up in c1's answers.
	w.addAt(minute(5), "c2", &events.StaffJoined{StaffID: "s1", PII: events.StaffPII{Name: "Other"}})
	w.addAt(minute(6), "c2", &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s1", StartedBy: "added", PII: pii("Other", "")})
	catchUp(t, r)
}

func TestGivenEventsExpectedRows(t *testing.T) {
	pool := newDB(t)
	w := newWorld(t)
	r := newRunner(t, pool, w.log, 7) // small batches: the scenario spans many transactions
	salesScenario(t, w, r)

	q := func(sql string) []string { return rows(t, pool, sql) }
	t.Run("staff", func(t *testing.T) {
		assertRows(t, "staff", q(`SELECT staff_id, name, status, capacity, joined_at, departed_at, active_customers,
			unassigned_customers, slots_used, updated_at FROM projections.staff WHERE corp_id = 'c1' ORDER BY staff_id`), []string{
			"s1 Alice active 100 m0 - 0 0 1 m27",
			"s2 Bob departed 0 m0 m21 0 2 0 m21",
			"s3 Carol active 200 m0 - 1 0 0 m1510",
		})
	})
	t.Run("customers", func(t *testing.T) {
		assertRows(t, "customers", q(`SELECT customer_id, name, followers, follower_count, first_added_at, last_added_at,
			erased, erased_at, updated_at FROM projections.customers WHERE corp_id = 'c1' ORDER BY customer_id`), []string{
			`cu1 "" [s2|s3] 2 m1 m11 true m50 m50`,
			`cu2 Li [] 0 m2 m2 false - m6`,
			`cu3 Zhao [s2] 1 m20 m20 false - m20`,
			`cu4 Sun [] 0 m1500 m1500 false - m1510`,
		})
	})
	t.Run("relations", func(t *testing.T) {
		assertRows(t, "relations", q(`SELECT customer_id, staff_id, status, started_at, ended_at, end_reason, started_by,
			start_handover_id, end_handover_id, initiator, add_way, channel, customer_name, remark, description, phones, tags,
			moments_opted_out, moments_changed_at, intervals, updated_at
			FROM projections.relations WHERE corp_id = 'c1' ORDER BY customer_id, staff_id`), []string{
			`cu1 s1 ended m1 m11 handed_over added - h1 customer 1 qr-spring "" "" "" [] [vip|y2026] false m45 1 m45`,
			`cu1 s2 unassigned m3 - - added - - staff 0 "" "" "" "" [] [] false - 1 m21`,
			`cu1 s3 active m11 - - handover h1 - staff 0 "" "" "" "" [] [vip|y2026] true m46 1 m46`,
			`cu2 s1 ended m2 m6 deleted_by_customer added - - staff 3 "" Li "" "" [] [] false - 1 m6`,
			`cu3 s2 unassigned m20 - - added - - customer 1 "" Zhao "" "" [] [] false - 1 m21`,
			`cu4 s3 ended m1500 m1510 deleted_by_staff added - - staff 2 "" Sun "" "" [] [] false - 1 m1510`,
		})
		assertRows(t, "ownership_intervals", q(`SELECT customer_id, staff_id, started_at, ended_at, started_by, start_handover_id,
			end_reason, end_handover_id FROM projections.ownership_intervals WHERE corp_id = 'c1' ORDER BY customer_id, started_at, staff_id`), []string{
			`cu1 s1 m1 m11 added - handed_over h1`,
			`cu1 s2 m3 - added - - -`,
			`cu1 s3 m11 - handover h1 - -`,
			`cu2 s1 m2 m6 added - deleted_by_customer -`,
			`cu3 s2 m20 - added - - -`,
			`cu4 s3 m1500 m1510 added - deleted_by_staff -`,
		})
		assertRows(t, "unassigned_relations", q(`SELECT customer_id, staff_id, departed_at, started_at
			FROM projections.unassigned_relations WHERE corp_id = 'c1' ORDER BY customer_id, staff_id`), []string{
			`cu1 s2 m21 m3`,
			`cu3 s2 m21 m20`,
		})
	})
	t.Run("handovers", func(t *testing.T) {
		assertRows(t, "handovers", q(`SELECT handover_id, customer_id, kind, from_staff_id, to_staff_id, message, status,
			requested_at, deadline, settled_at, failure_reason FROM projections.handovers WHERE corp_id = 'c1' ORDER BY handover_id`), []string{
			`h1 cu1 in_service s1 s3 "" completed m10 m1450 m11 -`, // "hi" until cu1 was erased: the message is the customer's
			`h2 cu1 in_service s2 s1 "" refused m12 m1452 m13 -`,
			`h3 cu3 resigned s2 s3 "" failed m22 m1462 m23 target_at_capacity`,
			`h4 cu1 resigned s2 s1 "" pending m24 m1464 - -`,
		})
	})
	t.Run("groups", func(t *testing.T) {
		assertRows(t, "group_chats", q(`SELECT chat_id, owner_id, name, notice, status, created_at, dismissed_at, staff_members,
			customer_members, owner_changes, updated_at FROM projections.group_chats WHERE corp_id = 'c1' ORDER BY chat_id`), []string{
			`g1 s3 VIP-2026 sale active m30 - 1 2 1 m38`,
			`g2 s3 Old "" dismissed m39 m40 0 0 0 m40`,
		})
		assertRows(t, "group_members", q(`SELECT chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname
			FROM projections.group_members WHERE corp_id = 'c1' ORDER BY chat_id, member_type, member_id`), []string{
			`g1 cu1 customer m32 qrcode s1 ""`,
			`g1 cu2 customer m35 invited s1 L2`,
			`g1 s1 staff m31 invited "" ""`,
		})
		assertRows(t, "group_membership_history", q(`SELECT chat_id, member_id, member_type, joined_at, join_scene, inviter_id,
			nickname, left_at, quit_scene FROM projections.group_membership_history WHERE corp_id = 'c1' ORDER BY join_commit, join_prepare`), []string{
			`g1 s1 staff m31 invited "" "" - -`,
			`g1 cu1 customer m32 qrcode s1 "" - -`,
			`g1 cu2 customer m33 link "" L m34 left`,
			`g1 cu2 customer m35 invited s1 L2 - -`,
		})
	})
	t.Run("activity", func(t *testing.T) {
		assertRows(t, "daily_staff_activity", q(`SELECT staff_id, day::text, added, added_by_staff, added_by_customer,
			deleted_by_customer, deleted_by_staff, handed_over_in, handed_over_out, reconciled
			FROM projections.daily_staff_activity WHERE corp_id = 'c1' ORDER BY staff_id, day`), []string{
			`s1 2026-03-02 2 1 1 1 0 0 1 0`,
			`s2 2026-03-02 2 1 1 0 0 0 0 0`,
			`s3 2026-03-02 0 0 0 0 0 1 0 0`,
			`s3 2026-03-03 1 1 0 0 1 0 0 0`,
		})
	})
	t.Run("moments", func(t *testing.T) {
		assertRows(t, "moments_opt_outs", q(`SELECT customer_id, staff_id, opted_out, changed_at, source
			FROM projections.moments_opt_outs WHERE corp_id = 'c1' ORDER BY customer_id, staff_id`), []string{
			`cu1 s1 false m45 ""`,
			`cu1 s3 true m46 wecom-tool`,
		})
		assertRows(t, "moments_audience", q(`SELECT staff_id, customer_id, since, opted_out
			FROM projections.moments_audience WHERE corp_id = 'c1' ORDER BY staff_id, customer_id`), []string{
			`s3 cu1 m11 true`,
		})
	})
	t.Run("consents", func(t *testing.T) {
		assertRows(t, "consents", q(`SELECT customer_id, purpose, state, changed_at, recorded_at
			FROM projections.consents WHERE corp_id = 'c1' ORDER BY customer_id, purpose`), []string{
			`cu1 chat_archive default_agree m42 m0`,
			`cu1 marketing disagree m43 m0`,
		})
		assertRows(t, "consent_history", q(`SELECT customer_id, purpose, state, changed_at
			FROM projections.consent_history WHERE corp_id = 'c1' ORDER BY commit_pos, prepare_pos`), []string{
			`cu1 marketing agree m41`,
			`cu1 chat_archive default_agree m42`,
			`cu1 marketing disagree m43`,
			`cu1 marketing agree m40`,
		})
	})
	t.Run("checkpoints", func(t *testing.T) {
		head, err := w.log.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range r.Checkpoints() {
			if cp.Position != head {
				t.Errorf("%s at %s, want head %s", cp.Name, cp.Position, head)
			}
		}
		lags, err := Status(context.Background(), pool, w.log, All(), StatusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lags {
			if l.EventsBehind != 0 || l.Position != head || l.PendingMigrations != 0 {
				t.Errorf("status %+v, want caught up at %s", l, head)
			}
		}
	})
	t.Run("equals clean rebuild", func(t *testing.T) {
		if n := assertEqualsCleanRebuild(t, pool, w.log, All()); n == 0 {
			t.Error("compared no rows")
		}
	})
}

func TestQueries(t *testing.T) {
	pool := newDB(t)
	w := newWorld(t)
	salesScenario(t, w, newRunner(t, pool, w.log, 1000))
	ctx := context.Background()
	rd := NewReader(pool)

	v, err := rd.Customer(ctx, "c1", "cu1")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Erased || v.Name != "" || len(v.Relations) != 3 || len(v.Ownership) != 3 || len(v.Groups) != 1 ||
		len(v.Handovers) != 3 || len(v.Consents) != 2 || len(v.OptOuts) != 2 {
		t.Errorf("customer view %+v", v)
	}
	if v.Handovers[0].HandoverID != "h4" || v.Relations[2].StaffID != "s3" {
		t.Errorf("customer view order: handovers %v relations %v", v.Handovers, v.Relations)
	}
	if _, err := rd.Customer(ctx, "c2", "cu3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("customer of another corp: %v, want ErrNotFound", err)
	}

	owners := func(m int) []string {
		is, err := rd.OwnersAsOf(ctx, "c1", "cu1", minute(m))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, i := range is {
			out = append(out, i.StaffID)
		}
		return out
	}
	assertRows(t, "owners at m0", owners(0), nil)
	assertRows(t, "owners at m5", owners(5), []string{"s1", "s2"})
	assertRows(t, "owners at m11", owners(11), []string{"s2", "s3"})

	p1, err := rd.StaffCustomers(ctx, "c1", "s2", nil, Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Items) != 1 || p1.Items[0].CustomerID != "cu1" || p1.Next == "" {
		t.Fatalf("page 1: %+v", p1)
	}
	p2, err := rd.StaffCustomers(ctx, "c1", "s2", nil, Page{After: p1.Next, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Items) != 1 || p2.Items[0].CustomerID != "cu3" || p2.Next != "" {
		t.Fatalf("page 2: %+v", p2)
	}
	if _, err := rd.StaffCustomers(ctx, "c1", "s2", nil, Page{After: "not a cursor!"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}

	un, err := rd.Unassigned(ctx, "c1", "", Page{})
	if err != nil || len(un.Items) != 2 || !un.Items[0].DepartedAt.Equal(minute(21)) {
		t.Errorf("unassigned %+v %v", un, err)
	}

	var all []string
	page := Page{Limit: 3}
	for {
		hp, err := rd.Handovers(ctx, "c1", "", page)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hp.Items {
			all = append(all, h.HandoverID)
		}
		if hp.Next == "" {
			break
		}
		page.After = hp.Next
	}
	assertRows(t, "handovers newest first", all, []string{"h4", "h3", "h2", "h1"})
	pend, err := rd.Handovers(ctx, "c1", HandoverPending, Page{})
	if err != nil || len(pend.Items) != 1 || pend.Items[0].HandoverID != "h4" {
		t.Errorf("pending %+v %v", pend, err)
	}

	for _, c := range []struct {
		corp string
		at   time.Time
		want int
	}{{"c1", minute(1463), 0}, {"c1", minute(1464), 1}, {"", minute(1464), 1}, {"c2", minute(9999), 0}} {
		due, err := rd.DueHandovers(ctx, c.corp, c.at, 10)
		if err != nil || len(due) != c.want {
			t.Errorf("due %q at %v: %v %v, want %d", c.corp, c.at, due, err, c.want)
		}
	}

	gs, err := rd.GroupChats(ctx, "c1", "active", Page{})
	if err != nil || len(gs.Items) != 1 || gs.Items[0].ChatID != "g1" {
		t.Errorf("groups %+v %v", gs, err)
	}
	g, err := rd.GroupChat(ctx, "c1", "g1")
	if err != nil || len(g.Members) != 3 || g.Members[0].MemberType != "staff" || g.CustomerMembers != 2 {
		t.Errorf("group %+v %v", g, err)
	}

	sm, err := rd.Staff(ctx, "c1", "departed", Page{})
	if err != nil || len(sm.Items) != 1 || sm.Items[0].StaffID != "s2" {
		t.Errorf("departed staff %+v %v", sm, err)
	}

	o, err := rd.Overview(ctx, "c1", minute(1510))
	if err != nil {
		t.Fatal(err)
	}
	if o.ActiveStaff != 2 || o.DepartedStaff != 1 || o.Customers != 4 || o.ErasedCustomers != 1 || o.ActiveRelations != 1 ||
		o.UnassignedRelations != 2 || o.ActiveGroupChats != 1 || o.MomentsAudience != 0 || o.PendingOverdue != 1 ||
		o.HandoversByStatus["pending"] != 1 || o.HandoversByStatus["completed"] != 1 || len(o.ChurnLast7Days) != 3 ||
		len(o.UnassignedByDepartedStaff) != 1 || o.UnassignedByDepartedStaff[0].Count != 2 {
		t.Errorf("overview %+v", o)
	}
	if o.ChurnLast7Days[0].StaffID != "s1" || o.ChurnLast7Days[0].DeletedByCustomer != 1 {
		t.Errorf("churn %+v", o.ChurnLast7Days)
	}
}
