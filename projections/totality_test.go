package projections

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events"
)

func TestStorable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"王小明", "王小明"},
		{"a\x00b", "a\uFFFDb"},
		{"\x00\x00", "\uFFFD\uFFFD"},
		{"a\xffb", "a\uFFFDb"},
		{"\xe7\x8e", "\uFFFD"}, // a cut-off multi-byte sequence
		{"x\x00\xff", "x\uFFFD\uFFFD"},
	} {
		if got := storable(c.in); got != c.want {
			t.Errorf("storable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	tags := []string{"ok", "n\x00ul"}
	args := storableArgs([]any{"a\x00", tags, 7})
	if args[0] != "a\uFFFD" || args[1].([]string)[1] != "n\uFFFDul" || args[2] != 7 {
		t.Errorf("storableArgs: %q", args)
	}
	if tags[1] != "n\x00ul" {
		t.Error("storableArgs modified its argument's slice")
	}
	clean := []any{"a", []string{"b"}}
	if got := storableArgs(clean); &got[0] != &clean[0] {
		t.Error("storableArgs copied clean arguments")
	}
	if n := testing.AllocsPerRun(100, func() { storableArgs(clean) }); n != 0 {
		t.Errorf("storableArgs of clean text allocates %v times", n)
	}
}

// poisonHistory stores, for corp ca, events whose text PostgreSQL cannot
// hold (NUL) and integers beyond int4, for corp "cz\x00" a corp id with a
// NUL and invalid UTF-8, and for corp cb an ordinary history.
func poisonHistory(t *testing.T, l *rawLog) {
	const nul = "\x00"
	rel := func(name, remark, desc string, phones ...string) events.RelationPII {
		return events.RelationPII{CustomerName: name, Remark: remark, Description: desc, Phones: phones}
	}
	l.add(t, "ca", 0, &events.StaffJoined{StaffID: "s1", Capacity: math.MaxInt32 + 1, PII: events.StaffPII{Name: "Al" + nul + "ice"}})
	l.add(t, "ca", 0, &events.StaffJoined{StaffID: "s2", Capacity: -5, PII: events.StaffPII{Name: nul}})
	l.add(t, "ca", 1, &events.StaffCapacityChanged{StaffID: "s2", Capacity: math.MaxInt64})
	l.add(t, "ca", 1, &events.StaffJoined{StaffID: "s3", Capacity: math.MinInt64})
	l.add(t, "ca", 2, &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s1", Initiator: "customer", AddWay: math.MaxInt64,
		State: "qr" + nul, Tags: []string{"v" + nul + "ip"}, StartedBy: "added", PII: rel("W"+nul, "re"+nul+"mark", "de"+nul+"sc", "138"+nul)})
	l.add(t, "ca", 3, &events.CustomerRelationStarted{CustomerID: "cu2", StaffID: "s1", Initiator: "staff", AddWay: -1, StartedBy: "added"})
	l.add(t, "ca", 4, &events.CustomerRelationEdited{CustomerID: "cu2", StaffID: "s1", Tags: []string{nul}, PII: rel("", nul+"r", "d"+nul, nul)})
	l.add(t, "ca", 5, &events.HandoverRequested{HandoverID: "h1", CustomerID: "cu1", Kind: "in_service", FromStaffID: "s1", ToStaffID: "s2",
		Deadline: minute(1445), PII: events.HandoverRequestPII{Message: "hi" + nul}})
	l.add(t, "ca", 6, &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "g" + nul})
	l.add(t, "ca", 7, &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "cu1", MemberType: "customer", JoinScene: "qrcode",
		PII: events.GroupMemberPII{Nickname: "ni" + nul + "ck"}})
	l.add(t, "ca", 8, &events.GroupChatRenamed{ChatID: "g1", Name: nul + "renamed"})
	l.add(t, "ca", 9, &events.GroupChatNoticeChanged{ChatID: "g1", Notice: "no" + nul + "tice"})
	l.add(t, "ca", 10, &events.MomentsOptedOut{CustomerID: "cu1", StaffID: "s1", Source: "s" + nul})
	l.add(t, "ca", 10, &events.TagCreated{TagID: "t" + nul, Kind: events.TagKindTag, GroupID: "g\xff", Name: "ta" + nul + "g"})
	l.add(t, "ca", 10, &events.WeComFactUnmatched{Kind: "k" + nul, Reason: events.UnmatchedMember, ChatID: "g1",
		MemberIDs: []string{"cu" + nul, "s1"}, CallbackKey: "cb" + nul})

	l.add(t, "cz"+nul+"\xff", 11, &events.StaffJoined{StaffID: "s\xff1", PII: events.StaffPII{Name: "Z"}})

	l.add(t, "cb", 12, &events.StaffJoined{StaffID: "s1", Capacity: 10, PII: events.StaffPII{Name: "Bob"}})
	l.add(t, "cb", 13, &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s1", Initiator: "staff", AddWay: 3, StartedBy: "added",
		PII: rel("Li", "fine", "")})
}

// assertPoisonRows checks the rows poisonHistory yields in schema.
func assertPoisonRows(t *testing.T, db Querier, schema string) {
	t.Helper()
	q := func(sql string) []string {
		return rows(t, db, replaceSchema(sql, schema))
	}
	assertRows(t, schema+" staff", q(`SELECT corp_id, staff_id, name, capacity, active_customers FROM {s}.staff ORDER BY 1, 2`), []string{
		"ca s1 Al\uFFFDice 2147483648 2",
		"ca s2 \uFFFD 9223372036854775807 0",
		"ca s3 \"\" -9223372036854775808 0",
		"cb s1 Bob 10 1",
		"cz\uFFFD\uFFFD s\uFFFD1 Z 0 0",
	})
	assertRows(t, schema+" relations", q(`SELECT corp_id, customer_id, add_way, channel, customer_name, remark, description, phones, tags
		FROM {s}.relations ORDER BY 1, 2`), []string{
		"ca cu1 9223372036854775807 qr\uFFFD W\uFFFD re\uFFFDmark de\uFFFDsc [138\uFFFD] [v\uFFFDip]",
		"ca cu2 -1 \"\" \"\" \uFFFDr d\uFFFD [\uFFFD] [\uFFFD]",
		"cb cu1 3 \"\" Li fine \"\" [] []",
	})
	assertRows(t, schema+" handovers", q(`SELECT corp_id, handover_id, message FROM {s}.handovers`), []string{"ca h1 hi\uFFFD"})
	assertRows(t, schema+" group_chats", q(`SELECT corp_id, chat_id, name, notice, customer_members FROM {s}.group_chats`),
		[]string{"ca g1 \uFFFDrenamed no\uFFFDtice 1"})
	assertRows(t, schema+" group_members", q(`SELECT nickname FROM {s}.group_members`), []string{"ni\uFFFDck"})
	assertRows(t, schema+" group_membership_history", q(`SELECT nickname FROM {s}.group_membership_history`), []string{"ni\uFFFDck"})
	assertRows(t, schema+" moments_opt_outs", q(`SELECT source FROM {s}.moments_opt_outs`), []string{"s\uFFFD"})
	assertRows(t, schema+" tags", q(`SELECT corp_id, tag_id, group_id, name FROM {s}.tags`), []string{"ca t\uFFFD g\uFFFD ta\uFFFDg"})
	assertRows(t, schema+" wecom_unmatched", q(`SELECT corp_id, callback_key, kind, member_ids FROM {s}.wecom_unmatched`),
		[]string{"ca cb\uFFFD k\uFFFD [cu\uFFFD|s1]"})
	assertRows(t, schema+" customers", q(`SELECT corp_id, customer_id, name, follower_count FROM {s}.customers ORDER BY 1, 2`), []string{
		"ca cu1 W\uFFFD 1", "ca cu2 \"\" 1", "cb cu1 Li 1",
	})
}

func replaceSchema(sql, schema string) string { return strings.ReplaceAll(sql, "{s}", ident(schema)) }

// TestPoisonTextAndIntegersProject shows that events with NUL text,
// invalid UTF-8 and integers beyond int4 project with the expected rows,
// live and through a rebuild (the bulk staging and fold), and that other
// corps' events keep flowing.
func TestPoisonTextAndIntegersProject(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	l := newRawLog()
	poisonHistory(t, l)
	r := newRunner(t, pool, l, 4)
	catchUp(t, r)
	assertPoisonRows(t, pool, LiveSchema)
	assertNoneParked(t, pool)

	// The bulk rebuild path yields the same rows.
	assertEqualsCleanRebuild(t, pool, l, All())
	res, err := Rebuild(ctx, pool, l, All(), RebuildOptions{Fresh: true, Logger: discardLogger()})
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if res.Position != lastPosition(t, l) {
		t.Errorf("rebuilt to %s, want the log's end", res.Position)
	}
	assertPoisonRows(t, pool, LiveSchema)

	// Corp cb keeps flowing after the poison, live.
	l.add(t, "cb", 20, &events.CustomerRelationStarted{CustomerID: "cu9", StaffID: "s1", Initiator: "staff", StartedBy: "added"})
	catchUp(t, r)
	assertRows(t, "cb staff", rows(t, pool, `SELECT active_customers FROM projections.staff WHERE corp_id = 'cb'`), []string{"2"})
	assertNoneParked(t, pool)
}

func assertNoneParked(t *testing.T, db Querier) {
	t.Helper()
	assertRows(t, "parked", rows(t, db, `SELECT projection, corp_id FROM projections.parked`), nil)
}

// staffV1 is the staff projection as released before migration 002.
type staffV1 struct{ Staff }

func (staffV1) Migrations() []string { return Staff{}.Migrations()[:1] }

// TestIntegerColumnsAreBigint: after Migrate, no projection table has an
// int4 or int2 column, an existing v1 staff table is widened with its rows,
// and a rebuild's shadow tables have exactly the live tables' column types.
func TestIntegerColumnsAreBigint(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := MigrateProjections(ctx, pool, staffV1{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projections.staff (corp_id, staff_id, capacity, updated_at) VALUES ('c1', 's1', 7, now())`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	assertRows(t, "widened row", rows(t, pool, `SELECT staff_id, capacity FROM projections.staff`), []string{"s1 7"})
	var tables []string
	for _, p := range All() {
		tables = append(tables, p.Tables()...)
	}
	columns := func(schema string) []string {
		return rows(t, pool, `SELECT table_name, column_name, data_type FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = ANY($2) ORDER BY 1, 2`, schema, tables)
	}
	live := columns(LiveSchema)
	for _, c := range live {
		if strings.HasSuffix(c, " integer") || strings.HasSuffix(c, " smallint") {
			t.Errorf("column %s", c)
		}
	}
	for _, p := range All() {
		if _, _, err := prepareShadow(ctx, pool, p, true, false); err != nil {
			t.Fatal(err)
		}
	}
	var shadow []string
	for _, p := range All() {
		shadow = append(shadow, columns(shadowSchema(p))...)
	}
	slices.Sort(shadow)
	assertRows(t, "shadow columns", shadow, live)
}

// BenchmarkStorableRow measures the text check on a typical staged row of
// clean text (the rebuild's hot path).
func BenchmarkStorableRow(b *testing.B) {
	row := []any{int16(1), "wwc1a2b3c4d5e6", "wmABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "zhangsan", int64(1), int64(2), base,
		"added", "", "staff", int64(1), "qr-spring-2026", "王小明", "大客户，上海", "", []string{"13800000000"}, []string{"vip", "y2026"}}
	b.ReportAllocs()
	for b.Loop() {
		storableRow(row)
	}
}
