package projections

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	corpdom "github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

func bulkProjections(t *testing.T) []Projection {
	var bulk []Projection
	for _, p := range All() {
		if _, ok := planOf(p); ok {
			bulk = append(bulk, p)
		}
	}
	if len(bulk) == 0 {
		t.Fatal("no projection rebuilds in bulk")
	}
	return bulk
}

// assertBulkEqualsApply builds the bulk projections both ways from src —
// folded (buildShadows) and applied in batches by their statements — and
// compares every table row for row. A fold projection is also applied by
// its live driver in batches of 5000 and of each size in liveBatches (a
// fact reaching stored rows of earlier batches: an erasure).
func assertBulkEqualsApply(t *testing.T, pool *pgxpool.Pool, src Source, liveBatches ...int) {
	t.Helper()
	ctx := context.Background()
	bulk := bulkProjections(t)
	recs, err := src.ReadAll(ctx, events.Start, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decode(recs)
	if err != nil {
		t.Fatal(err)
	}
	// One connection for every fold: each fold's statements must not trip
	// over another's on the same connection.
	cfg := pool.Config().Copy()
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	var res RebuildResult
	if _, err := buildShadows(ctx, one, src, bulk, RebuildOptions{BatchSize: 3000, Fresh: true, Logger: discardLogger()}, &res); err != nil {
		t.Fatal(err)
	}
	for _, p := range bulk {
		// The rebuild's rows are compared with the SQL implementation's
		// (the oracle, for a fold projection) and, for a fold projection,
		// with its live driver's.
		type applier struct {
			p     Projection
			batch int
		}
		appliers := []applier{{oracle(t, p), 5000}}
		if _, ok := p.(foldProjection); ok {
			for _, n := range append([]int{5000}, liveBatches...) {
				appliers = append(appliers, applier{p, n})
			}
		}
		for k, ap := range appliers {
			a := ap.p
			schema := fmt.Sprintf("eq_apply_%s_%d", p.Name(), k)
			freshSchema(t, pool, schema, a)
			applyEvents(t, pool, schema, a, evs, ap.batch)
			for _, tbl := range p.Tables() {
				want, got := tableDump(t, pool, schema, tbl), tableDump(t, pool, shadowSchema(p), tbl)
				if len(want) == 0 {
					t.Errorf("%s.%s: no rows", p.Name(), tbl)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s.%s: folded %d rows, applied (%T, batches of %d) %d; first difference: %s",
						p.Name(), tbl, len(got), a, ap.batch, len(want), firstDiff(got, want))
				}
			}
		}
	}
}

// TestBulkEqualsApply compares the folds with Apply on randomized
// histories: a dense one (many events per key, several intervals per pair,
// departures and erasures) and a sparse one.
func TestBulkEqualsApply(t *testing.T) {
	for _, h := range []genOptions{
		{Corp: "c1", Events: 20000, Writers: 8, Staff: 12, Customers: 40, Seed: 7},
		{Corp: "c1", Events: 20000, Writers: 8, Staff: 60, Customers: 400, Seed: 8},
	} {
		t.Run(fmt.Sprintf("staff=%d,customers=%d", h.Staff, h.Customers*h.Writers), func(t *testing.T) {
			log := memlog.New()
			if _, err := generate(context.Background(), log, h); err != nil {
				t.Fatal(err)
			}
			assertBulkEqualsApply(t, newDB(t), log)
		})
	}
}

// TestBulkEqualsApplyEdgeCases compares the folds with Apply on a
// hand-written history with what the generator never produces: personal
// data still readable when the erasure is applied (a log read before the
// key is gone), events after an erasure, re-adds after a departure, a
// second start without an end, edits and opt-outs of pairs that never
// started, duplicate joins, leaves of absent members, joins before the
// chat exists, events after a dismissal, staff erasures next to customers
// with the same id, two corps with the same ids.
func TestBulkEqualsApplyEdgeCases(t *testing.T) {
	w := newWorld(t)
	pii := func(name string) events.RelationPII {
		return events.RelationPII{CustomerName: name, Remark: "r-" + name, Description: "d", Phones: []string{"+86 1", name}}
	}
	start := func(cust, staff, name string) *events.CustomerRelationStarted {
		return &events.CustomerRelationStarted{CustomerID: cust, StaffID: staff, Initiator: events.InitiatorStaff, AddWay: 2,
			State: "ch", Tags: []string{"a"}, StartedBy: events.StartedByAdd, PII: pii(name)}
	}
	join := func(chat, member, mtype, nick string) *events.GroupChatMemberJoined {
		return &events.GroupChatMemberJoined{ChatID: chat, MemberID: member, MemberType: mtype, JoinScene: events.JoinInvited,
			InviterID: "s1", PII: events.GroupMemberPII{Nickname: nick}}
	}
	left := func(chat, member, mtype string) *events.GroupChatMemberLeft {
		return &events.GroupChatMemberLeft{ChatID: chat, MemberID: member, MemberType: mtype, QuitScene: events.QuitLeft}
	}
	m := 0
	add := func(corp string, ps ...events.Payload) {
		for _, p := range ps {
			m++
			w.addAt(minute(m), corp, p)
		}
	}
	for _, corp := range []string{"c1", "c2"} {
		add(corp,
			// Relations: a second start without an end, an edit without a
			// name, an erasure with the names still readable, edits and
			// re-adds after it, a departure, a re-add and a second departure.
			start("cu1", "s1", "Ann"), start("cu1", "s2", "Ann B"), start("cu1", "s1", ""),
			&events.CustomerRelationEdited{CustomerID: "cu1", StaffID: "s1", Tags: []string{"x", "y"}, PII: events.RelationPII{Remark: "no name"}},
			&events.MomentsOptedOut{CustomerID: "cu1", StaffID: "s1", Source: "app"},
			&events.CustomerErased{CustomerID: "cu1"},
			&events.CustomerRelationEdited{CustomerID: "cu1", StaffID: "s2", PII: pii("After")},
			start("cu1", "s3", "Later"),
			&events.StaffDeparted{StaffID: "s2"},
			start("cu2", "s2", "Bo"), &events.StaffDeparted{StaffID: "s2"},
			&events.CustomerRelationEnded{CustomerID: "cu1", StaffID: "s2", Reason: events.EndHandedOver, HandoverID: "h1"},
			// Pairs that never started.
			&events.CustomerRelationEdited{CustomerID: "cu9", StaffID: "s1", PII: pii("Ghost")},
			&events.MomentsOptedOut{CustomerID: "cu9", StaffID: "s1"}, &events.MomentsOptedIn{CustomerID: "cu9", StaffID: "s1"},
			&events.CustomerRelationEnded{CustomerID: "cu8", StaffID: "s1", Reason: events.EndDeletedByStaff},
			// Opt-out before the relation, opt-in on it.
			&events.MomentsOptedOut{CustomerID: "cu3", StaffID: "s4"}, start("cu3", "s4", "Cy"),
			&events.MomentsOptedIn{CustomerID: "cu3", StaffID: "s4", Source: "web"},
			&events.CustomerErased{CustomerID: "cu7"}, start("cu7", "s4", "Re-added"),
			// Groups.
			join("g1", "cu3", events.MemberCustomer, "early"),
			&events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "One"},
			&events.GroupChatCreated{ChatID: "g1", OwnerID: "s9", Name: "Again"},
			join("g1", "cu1", events.MemberCustomer, "nick1"), join("g1", "cu1", events.MemberCustomer, "twice"),
			join("g1", "s1", events.MemberStaff, "staff"), join("g1", "cu1", events.MemberStaff, "same id, staff"),
			left("g1", "nobody", events.MemberCustomer), left("g1", "cu3", events.MemberCustomer),
			&events.GroupChatCreated{ChatID: "g2", OwnerID: "s1"}, join("g2", "cu1", events.MemberCustomer, "nick2"),
			&events.CustomerErased{CustomerID: "cu1"},
			join("g2", "cu2", events.MemberCustomer, "two"), left("g2", "cu1", events.MemberCustomer), join("g2", "cu1", events.MemberCustomer, "back"),
			&events.GroupChatDismissed{ChatID: "g2"}, &events.GroupChatRenamed{ChatID: "g2", Name: "after"}, join("g2", "cu5", events.MemberCustomer, "late"),
			// Handovers and consents (their own edge cases are in
			// TestBulkEqualsApplyHandoversConsents).
			&events.HandoverRequested{HandoverID: "hq1", CustomerID: "cu1", Kind: events.HandoverInService, FromStaffID: "s1", ToStaffID: "s3", Deadline: minute(500)},
			&events.HandoverFailed{HandoverID: "hq1", CustomerID: "cu1", Reason: events.FailTargetDeparted},
			&events.ConsentRecorded{CustomerID: "cu1", Purpose: events.PurposeMarketing, State: events.ConsentAgree},
			// An erasure that is the customer's last event.
			&events.CustomerErased{CustomerID: "cu3"},
			// Staff erasures: s1's nicknames as a staff member go (in g1 and
			// g3, open and closed stints), a customer with s1's id keeps
			// theirs; a member erased after joining, twice, and one never
			// seen.
			&events.GroupChatCreated{ChatID: "g3", OwnerID: "s1"}, join("g3", "s1", events.MemberStaff, "boss"),
			join("g3", "s1", events.MemberCustomer, "a customer named like s1"), left("g3", "s1", events.MemberStaff),
			join("g3", "s1", events.MemberStaff, "boss again"),
			&events.StaffErased{StaffID: "s1"},
			join("g3", "s4", events.MemberStaff, "joined after s1's erasure"), &events.StaffErased{StaffID: "s4"},
			&events.StaffErased{StaffID: "s1"}, &events.StaffErased{StaffID: "nobody"},
		)
		// Outreach: deliveries reported twice, late, to an erased customer,
		// to one never related, to a group, to both a customer and a group,
		// uncounted and flagged ones; a message sent before it was planned
		// and planned twice; time zones unknown, unchanged and changed.
		d := func(msg, cust, chat string) *events.OutreachDelivered {
			return &events.OutreachDelivered{MessageID: msg, Channel: events.ChannelMassMessage, StaffID: "s3", CustomerID: cust, ChatID: chat,
				ReportedBy: events.ReportedByCustody, Counted: true}
		}
		zone := func(tz string) *events.CorpSettingsChanged {
			ev := corpdom.ToEvent(corpdom.Defaults())
			ev.TimeZone = tz
			return ev
		}
		flagged := d("m3", "cu2", "")
		flagged.ReportedBy, flagged.Violations, flagged.Channel, flagged.Counted = events.ReportedByWeCom, []string{events.OutreachCapDay},
			events.ChannelMoments, false
		add(corp, zone("Not/AZone"), zone(corpdom.DefaultTimeZone), d("m1", "cu1", ""), d("m1", "cu1", ""), d("m1", "cu2", ""),
			d("m1", "cu9", ""), d("m2", "", "g1"), d("m2", "cu3", "g1"), flagged,
			&events.OutreachSent{MessageID: "m2", Channel: events.ChannelMassMessage, StaffID: "s3", CustomerIDs: []string{"cu1"}, ChatIDs: []string{"g1"},
				ReportedBy: events.ReportedByWeCom, Flagged: []events.OutreachRecipient{{ChatID: "g1", Reasons: []string{events.OutreachCapDay}}}},
			&events.OutreachPlanned{MessageID: "m2", Channel: events.ChannelMoments, StaffID: "s1", CustomerIDs: []string{"cu1", "cu2"}},
			&events.OutreachPlanned{MessageID: "m2", Channel: events.ChannelMoments, StaffID: "s1", CustomerIDs: []string{"cu1"}},
			&events.OutreachRefused{MessageID: "m4", Channel: events.ChannelMassMessage, StaffID: "s3",
				Refused: []events.OutreachRecipient{{CustomerID: "cu2", Reasons: []string{events.OutreachCapWeek}}}},
			&events.ConsentRecorded{CustomerID: "cu2", Purpose: events.PurposeMarketing, State: events.ConsentDisagree, ChangedAt: minute(m)},
			&events.ConsentRecorded{CustomerID: "cu2", Purpose: events.PurposeMarketing, State: events.ConsentAgree, ChangedAt: minute(1)},
		)
		w.addAt(minute(m-60*24*40), corp, d("m0", "cu2", "")) // late, in an earlier month
		if corp == "c1" {
			add(corp, zone("Europe/Berlin"), d("m5", "cu2", ""), zone("UTC"), d("m5", "cu2", ""), d("m6", "cu2", ""))
		}
	}
	pool := newDB(t)
	// Live in batches of 1 and 5 too: erasures then reach rows (closed
	// stints, relations, handovers) stored by earlier batches.
	assertBulkEqualsApply(t, pool, w.log, 1, 5)
	// Spelled out, so the comparison cannot pass with both sides wrong
	// the same way.
	assertRows(t, "nicknames after staff erasures", rows(t, pool, `SELECT chat_id, member_type, member_id, nickname, left_at IS NULL
		FROM `+ident(shadowSchema(Groups{}))+`.group_membership_history
		WHERE corp_id = 'c1' AND member_id IN ('s1', 's4', 'cu1') ORDER BY chat_id, join_commit, join_prepare`), []string{
		`g1 customer cu1 "" true`,
		`g1 staff s1 "" true`,
		`g1 staff cu1 same id, staff true`,
		`g2 customer cu1 "" false`,
		`g2 customer cu1 back true`, // joined after the erasure; this log still reads its name

		`g3 staff s1 "" false`,
		`g3 customer s1 a customer named like s1 true`,
		`g3 staff s1 "" true`,
		`g3 staff s4 "" true`,
	})
}

// TestBulkFoldInterrupted cancels a rebuild in the middle of a fold (after
// the first chunk was copied) and shows the next run folds again from the
// staged events and ends with the tables the runner had applied.
func TestBulkFoldInterrupted(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 6000, Writers: 4, Staff: 10, Customers: 100, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, pool, log, 1000)
	catchUp(t, r)
	ps := []Projection{Relations{}}
	before := map[string][]string{}
	for _, tbl := range (Relations{}).Tables() {
		before[tbl] = tableDump(t, pool, LiveSchema, tbl)
	}

	cctx, cancel := context.WithCancel(ctx)
	chunks := 0
	defer func(n int) { foldRows, afterFoldChunk = n, nil }(foldRows)
	foldRows = 100
	afterFoldChunk = func() {
		if chunks++; chunks == 2 {
			cancel()
		}
	}
	_, err := Rebuild(cctx, pool, log, ps, RebuildOptions{BatchSize: 1000, Logger: discardLogger()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fold: %v", err)
	}
	if chunks < 2 {
		t.Fatalf("the fold ran %d chunks before the cancel", chunks)
	}
	var pending bool
	if err := pool.QueryRow(ctx, "SELECT bulk_pending FROM "+ident(shadowSchema(Relations{}))+".rebuild_state").Scan(&pending); err != nil || !pending {
		t.Fatalf("after the interrupted fold: pending %v (%v), want the staged events kept", pending, err)
	}
	afterFoldChunk = nil
	res, err := Rebuild(ctx, pool, log, ps, RebuildOptions{BatchSize: 1000, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Applied != 0 {
		t.Errorf("second rebuild %+v, want one resumed with nothing left to read", res)
	}
	for tbl, want := range before {
		got := tableDump(t, pool, LiveSchema, tbl)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s after the resumed fold: %d rows, the runner had %d; first difference: %s", tbl, len(got), len(want), firstDiff(got, want))
		}
	}
}

// TestRawFactEqualsValues checks the fold's own decoding of staged facts
// against pgx's values normalised, for every staging type, NULLs, empty
// and NULL-holding arrays and times before 2000 and 1970, and that it
// leaves to pgx what it does not decode.
func TestRawFactEqualsValues(t *testing.T) {
	pool := newDB(t)
	ctx := context.Background()
	types := []string{"smallint", "text", "bigint", "integer", "boolean", "timestamptz", "text[]"}
	rs, err := pool.Query(ctx, `SELECT a::smallint, b COLLATE "C", c::bigint, d::integer, e, f, g FROM (VALUES
		(1::smallint, 'a'::text COLLATE "C", 5::bigint, 7::integer, true, '2026-01-02 03:04:05.123456+08'::timestamptz, ARRAY['x', NULL, '']::text[]),
		(NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(-3, '', -9223372036854775807, -1, false, '1960-05-06 07:08:09.000001+00', '{}'),
		(32767, 'é 名', 9223372036854775806, 2147483647, false, '1999-12-31 23:59:59.999999+00', ARRAY['名']),
		(0, 'x', 0, 0, true, 'infinity', '{}'),
		(0, 'x', 0, 0, true, '2000-01-01 00:00:00+00', ARRAY[['a'], ['b']])
	) v (a, b, c, d, e, f, g) ORDER BY 1 NULLS FIRST, 6`, pgx.QueryExecModeDescribeExec)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var decoded, left int
	for rs.Next() {
		got, ok := rawFact(rs, types)
		want, err := rs.Values()
		if err != nil {
			t.Fatal(err)
		}
		for i, typ := range types {
			want[i] = norm(typ, want[i])
		}
		if !ok {
			left++
			continue
		}
		decoded++
		if !reflect.DeepEqual(got, want) {
			t.Errorf("raw %#v\nwant %#v", got, want)
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if decoded != 4 || left != 2 {
		t.Errorf("decoded %d rows and left %d to pgx, want 4 and 2 (infinity, two dimensions)", decoded, left)
	}
}

// TestCopyInEqualsCopyFrom checks the rebuild's own binary COPY against
// pgx.CopyFrom: the same rows copied both ways into tables of every type
// it encodes read back the same, and a value it does not know leaves the
// rows to pgx.
func TestCopyInEqualsCopyFrom(t *testing.T) {
	pool := newDB(t)
	ctx := context.Background()
	type reason string
	type way int
	cols := []string{"s smallint", "i integer", "b bigint", "t text", "ok boolean", "at timestamptz", "d date", "l text[]"}
	names, types := colNames(cols), colTypes(cols)
	str, at := "pointer", time.Date(1969, 12, 31, 23, 59, 59, 999_999_000, time.FixedZone("x", 3600))
	data := [][]any{
		{int16(1), int32(-2), int64(3), "a", true, time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), []string{"x", "", "名"}},
		{nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(-32768), int64(2147483647), int(-9), &str, false, &at, at, []string{}},
		{way(7), way(-7), way(1 << 40), reason("named"), (*bool)(nil), (*time.Time)(nil), time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC), []string(nil)},
		{int16(0), uint16(65535), uint32(4294967295), (*string)(nil), true, time.Unix(0, 0), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), []string{"é"}},
	}
	for _, tbl := range []string{"by_copy_in", "by_pgx"} {
		if _, err := pool.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", tbl, strings.Join(cols, ", "))); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := copyBinary(types, data); !ok {
		t.Fatal("copyBinary left the rows to pgx")
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := copyIn(ctx, tx, pgx.Identifier{"by_copy_in"}, names, types, data); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"by_pgx"}, names, pgx.CopyFromRows(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT s, i, b, t, ok, at, d, l FROM %s ORDER BY s NULLS FIRST, i"
	assertRows(t, "binary COPY", rows(t, pool, fmt.Sprintf(q, "by_copy_in")), rows(t, pool, fmt.Sprintf(q, "by_pgx")))
	if got := len(rows(t, pool, fmt.Sprintf(q, "by_copy_in"))); got != len(data) {
		t.Errorf("copied %d rows, want %d", got, len(data))
	}
	// A value of another type (a float for a bigint) goes through pgx.
	if _, ok := copyBinary([]string{"bigint"}, [][]any{{1.5}}); ok {
		t.Error("copyBinary encoded a float as a bigint")
	}
}
