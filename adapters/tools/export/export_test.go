package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/tools/export"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// t0 is the start of the scenario's business time.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// secretName is personal data of the customer the scenario erases; it must
// never appear in any export.
const secretName = "Erased Person 张三"

// testLog is an event log with erasure: memlog or pgstore.
type testLog interface {
	export.Source
	eventlog.Eraser
	Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error)
}

// logs are the event logs every export test runs on.
var logs = []struct {
	name string
	new  func(t testing.TB) testLog
}{
	{"memlog", func(testing.TB) testLog {
		// recorded_at steps by a minute per append.
		rec := t0.Add(1000 * time.Hour)
		return memlog.New(memlog.WithClock(func() time.Time {
			rec = rec.Add(time.Minute)
			return rec
		}))
	}},
	{"pgstore", func(t testing.TB) testLog {
		ctx := context.Background()
		pool := pgtest.NewPool(t)
		if err := pgstore.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
		k, err := pii.NewKeyring(make([]byte, pii.KeySize), pii.NewPostgresKeyStore(pool), pii.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: k})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// scenario fills a log with events of two corps, all three stream kinds,
// personal data, a customer whose data is erased afterwards, and strings
// that need escaping in every format. occurred_at steps by an hour per
// event.
func scenario(t testing.TB, log testLog) testLog {
	t.Helper()
	ctx := context.Background()
	n := 0
	add := func(corp, stream string, p events.Payload) {
		t.Helper()
		n++
		e, err := events.New(uuid.New(), events.Meta{
			CorpID:        corp,
			OccurredAt:    t0.Add(time.Duration(n) * time.Hour),
			Actor:         "staff:s1",
			CommandID:     fmt.Sprintf("cmd-%d", n),
			CorrelationID: "corr,\"quoted\"\nline",
		}, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, stream, eventlog.ExpectAny, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, corp := range []string{"acme", "globex"} {
		add(corp, events.StaffStream(corp, "s1"), &events.StaffJoined{StaffID: "s1", PII: events.StaffPII{Name: "Staff One"}})
		add(corp, events.StaffStream(corp, "s2"), &events.StaffJoined{StaffID: "s2"})
		for _, c := range []string{"c1", "c2", "gone"} {
			name := "Customer " + c + " \"王\"\n"
			if c == "gone" {
				name = secretName
			}
			add(corp, events.CustomerStream(corp, c), &events.CustomerRelationStarted{
				CustomerID: c, StaffID: "s1", Initiator: events.InitiatorCustomer, AddWay: 1,
				State: "qr,spring", StartedBy: events.StartedByAdd,
				PII: events.RelationPII{CustomerName: name, Phones: []string{"+86 138"}},
			})
		}
		add(corp, events.GroupChatStream(corp, "g1"), &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "VIP"})
		add(corp, events.GroupChatStream(corp, "g1"), &events.GroupChatMemberJoined{
			ChatID: "g1", MemberID: "gone", MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode,
			PII: events.GroupMemberPII{Nickname: secretName},
		})
		add(corp, events.CustomerStream(corp, "c1"), &events.MomentsOptedOut{CustomerID: "c1", StaffID: "s1"})
		add(corp, events.CustomerStream(corp, "c2"), &events.CustomerRelationEnded{CustomerID: "c2", StaffID: "s1", Reason: events.EndDeletedByCustomer})
		add(corp, events.CustomerStream(corp, "gone"), &events.CustomerErased{CustomerID: "gone"})
		if err := log.Erase(ctx, events.CustomerSubject(corp, "gone")); err != nil {
			t.Fatal(err)
		}
	}
	return log
}

func all(t testing.TB, log testLog) []events.Recorded {
	t.Helper()
	recs, err := log.ReadAll(context.Background(), events.Start, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// parse reads an export back into rows, whatever its format.
func parse(t *testing.T, f export.Format, b []byte) []export.Row {
	t.Helper()
	switch f {
	case export.JSONL:
		return parseJSONL(t, b)
	case export.CSV:
		return parseCSV(t, b)
	case export.Parquet:
		return parseParquet(t, b)
	}
	t.Fatalf("format %q", f)
	return nil
}

func parseJSONL(t *testing.T, b []byte) []export.Row {
	t.Helper()
	var out []export.Row
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var v struct {
			EventID         string          `json:"event_id"`
			Type            string          `json:"type"`
			SchemaVersion   int32           `json:"schema_version"`
			CorpID          string          `json:"corp_id"`
			Stream          string          `json:"stream"`
			StreamVersion   int64           `json:"stream_version"`
			PositionCommit  int64           `json:"position_commit"`
			PositionPrepare int64           `json:"position_prepare"`
			OccurredAt      time.Time       `json:"occurred_at"`
			RecordedAt      time.Time       `json:"recorded_at"`
			Actor           string          `json:"actor"`
			CommandID       string          `json:"command_id"`
			CorrelationID   string          `json:"correlation_id"`
			CausationID     string          `json:"causation_id"`
			Subject         string          `json:"subject"`
			Data            json.RawMessage `json:"data"`
			PII             json.RawMessage `json:"pii"`
			PIIErased       bool            `json:"pii_erased"`
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		row := export.Row{
			EventID: v.EventID, Type: v.Type, SchemaVersion: v.SchemaVersion, CorpID: v.CorpID,
			Stream: v.Stream, StreamVersion: v.StreamVersion, PositionCommit: v.PositionCommit,
			PositionPrepare: v.PositionPrepare, OccurredAt: v.OccurredAt, RecordedAt: v.RecordedAt,
			Actor: v.Actor, CommandID: v.CommandID, CorrelationID: v.CorrelationID,
			CausationID: v.CausationID, Subject: v.Subject, Data: v.Data, PIIErased: v.PIIErased,
		}
		if string(v.PII) != "null" {
			row.PII = string(v.PII)
		}
		out = append(out, row)
	}
	return out
}

func parseCSV(t *testing.T, b []byte) []export.Row {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], export.Columns) {
		t.Fatalf("csv header %v, want %v", recs[0], export.Columns)
	}
	var out []export.Row
	for _, r := range recs[1:] {
		atoi := func(s string) int64 {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		tm := func(s string) time.Time {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		row := export.Row{
			EventID: r[0], Type: r[1], SchemaVersion: int32(atoi(r[2])), CorpID: r[3], Stream: r[4],
			StreamVersion: atoi(r[5]), PositionCommit: atoi(r[6]), PositionPrepare: atoi(r[7]),
			OccurredAt: tm(r[8]), RecordedAt: tm(r[9]), Actor: r[10], CommandID: r[11],
			CorrelationID: r[12], CausationID: r[13], Subject: r[14], Data: []byte(r[15]),
			PIIErased: r[17] == "true",
		}
		row.PII = r[16]
		out = append(out, row)
	}
	return out
}

func parseParquet(t *testing.T, b []byte) []export.Row {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	rd := parquet.NewGenericReader[export.Row](f)
	defer rd.Close()
	out := make([]export.Row, 0, f.NumRows())
	buf := make([]export.Row, 7) // odd size: exercises reads across row groups
	for {
		n, err := rd.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// normalize makes rows from different formats comparable: JSON compacted,
// times in UTC, empty and nil byte slices alike.
func normalize(t *testing.T, rows []export.Row) []export.Row {
	t.Helper()
	out := slices.Clone(rows)
	for i := range out {
		r := &out[i]
		r.OccurredAt, r.RecordedAt = r.OccurredAt.UTC(), r.RecordedAt.UTC()
		r.Data = compact(t, r.Data)
		if r.PII != "" {
			r.PII = string(compact(t, []byte(r.PII)))
		}
	}
	return out
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return buf.Bytes()
}

// want is the expected export, computed independently of Filter.Match.
func want(recs []events.Recorded, keep func(r events.Recorded) bool, includePII bool) []export.Row {
	var out []export.Row
	for _, r := range recs {
		if !keep(r) {
			continue
		}
		row := export.Row{
			EventID: r.ID.String(), Type: r.Type, SchemaVersion: int32(r.SchemaVersion),
			CorpID: r.CorpID, Stream: r.Stream, StreamVersion: r.StreamVersion,
			PositionCommit: int64(r.Position.Commit), PositionPrepare: int64(r.Position.Prepare),
			OccurredAt: r.OccurredAt.UTC().Truncate(time.Microsecond), RecordedAt: r.RecordedAt.UTC().Truncate(time.Microsecond),
			Actor: r.Actor, CommandID: r.CommandID, CorrelationID: r.CorrelationID,
			CausationID: r.CausationID, Subject: r.Subject, Data: r.Data, PIIErased: r.PIIErased,
		}
		if includePII && !r.PIIErased && len(r.PII) > 0 {
			row.PII = string(r.PII)
		}
		out = append(out, row)
	}
	return out
}

func TestFiltersAndFormats(t *testing.T) {
	for _, l := range logs {
		t.Run(l.name, func(t *testing.T) { testFiltersAndFormats(t, scenario(t, l.new(t))) })
	}
}

func testFiltersAndFormats(t *testing.T, log testLog) {
	recs := all(t, log)
	mid := t0.Add(8 * time.Hour)
	midRec := recs[10].RecordedAt
	cases := []struct {
		name   string
		filter export.Filter
		keep   func(r events.Recorded) bool
	}{
		{"all", export.Filter{}, func(events.Recorded) bool { return true }},
		{"corp", export.Filter{CorpID: "globex"}, func(r events.Recorded) bool { return r.CorpID == "globex" }},
		{"occurred from", export.Filter{From: mid}, func(r events.Recorded) bool { return !r.OccurredAt.Before(mid) }},
		{"occurred to", export.Filter{To: mid}, func(r events.Recorded) bool { return r.OccurredAt.Before(mid) }},
		{"occurred range", export.Filter{From: t0.Add(3 * time.Hour), To: mid, TimeField: export.Occurred},
			func(r events.Recorded) bool {
				return !r.OccurredAt.Before(t0.Add(3*time.Hour)) && r.OccurredAt.Before(mid)
			}},
		{"recorded range", export.Filter{From: midRec, To: midRec.Add(5 * time.Minute), TimeField: export.Recorded},
			func(r events.Recorded) bool {
				return !r.RecordedAt.Before(midRec) && r.RecordedAt.Before(midRec.Add(5*time.Minute))
			}},
		{"types", export.Filter{Types: []string{"customer.relation_started", "groupchat.member_joined"}},
			func(r events.Recorded) bool {
				return r.Type == "customer.relation_started" || r.Type == "groupchat.member_joined"
			}},
		{"stream prefixes", export.Filter{StreamPrefixes: []string{"staff-", "groupchat-acme-"}},
			func(r events.Recorded) bool {
				return strings.HasPrefix(r.Stream, "staff-") || strings.HasPrefix(r.Stream, "groupchat-acme-")
			}},
		{"combined", export.Filter{CorpID: "acme", Types: []string{"customer.relation_started"}, StreamPrefixes: []string{"customer-acme-c"}, From: t0},
			func(r events.Recorded) bool {
				return r.CorpID == "acme" && r.Type == "customer.relation_started" && strings.HasPrefix(r.Stream, "customer-acme-c")
			}},
	}
	for _, c := range cases {
		for _, f := range export.Formats {
			for _, pii := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/pii=%v", c.name, f, pii), func(t *testing.T) {
					exp := want(recs, c.keep, pii)
					if len(exp) == 0 || (c.name != "all" && len(exp) == len(recs)) {
						t.Fatalf("case selects %d of %d events: it cannot tell a filter from none", len(exp), len(recs))
					}
					var buf bytes.Buffer
					st, err := export.Export(context.Background(), log, &buf, export.Options{
						Format: f, Filter: c.filter, IncludePII: pii, PageSize: 4, RowGroupSize: 5,
					})
					if err != nil {
						t.Fatal(err)
					}
					if st.Written != int64(len(exp)) || st.Read != int64(len(recs)) {
						t.Fatalf("stats %+v, want written %d read %d", st, len(exp), len(recs))
					}
					got := normalize(t, parse(t, f, buf.Bytes()))
					exp = normalize(t, exp)
					if len(got) != len(exp) {
						t.Fatalf("%d rows, want %d", len(got), len(exp))
					}
					for i := range got {
						if !reflect.DeepEqual(got[i], exp[i]) {
							t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], exp[i])
						}
					}
					if bytes.Contains(buf.Bytes(), []byte(secretName)) {
						t.Fatal("an erased subject's personal data is in the export")
					}
				})
			}
		}
	}
}

func TestErasureRespected(t *testing.T) {
	for _, l := range logs {
		t.Run(l.name, func(t *testing.T) { testErasureRespected(t, scenario(t, l.new(t))) })
	}
}

func testErasureRespected(t *testing.T, log testLog) {
	for _, f := range export.Formats {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			st, err := export.Export(context.Background(), log, &buf, export.Options{Format: f, IncludePII: true})
			if err != nil {
				t.Fatal(err)
			}
			var erased, withPII int
			for _, r := range parse(t, f, buf.Bytes()) {
				gone := strings.HasSuffix(r.Subject, "/gone")
				switch {
				case gone && (!r.PIIErased || r.PII != ""):
					t.Errorf("erased subject's event %s: pii_erased=%v pii=%s", r.Type, r.PIIErased, r.PII)
				case gone:
					erased++
				case r.Subject != "" && r.PII == "":
					t.Errorf("event %s of %s lost its personal data", r.Type, r.Subject)
				case r.PII != "":
					withPII++
				}
			}
			// Per corp: the erased customer's relation and group nickname.
			if erased != 4 || st.PIIErased != 4 {
				t.Errorf("%d (stats %d) erased events, want 4", erased, st.PIIErased)
			}
			if withPII == 0 || st.PIIWritten != int64(withPII) {
				t.Errorf("%d events with personal data, stats say %d", withPII, st.PIIWritten)
			}
			if bytes.Contains(buf.Bytes(), []byte(secretName)) {
				t.Fatal("an erased subject's personal data is in the export")
			}
			if !bytes.Contains(buf.Bytes(), []byte("Staff One")) {
				t.Fatal("personal data of a subject that is not erased is missing")
			}

			buf.Reset()
			if _, err := export.Export(context.Background(), log, &buf, export.Options{Format: f}); err != nil {
				t.Fatal(err)
			}
			for _, r := range parse(t, f, buf.Bytes()) {
				if r.PII != "" {
					t.Fatalf("personal data exported without IncludePII: %s", r.Type)
				}
			}
			if bytes.Contains(buf.Bytes(), []byte("Staff One")) {
				t.Fatal("personal data exported without IncludePII")
			}
		})
	}
}

// TestStopsAtHead: events appended while an export runs are not exported,
// so an export of a busy log ends.
func TestStopsAtHead(t *testing.T) {
	log := scenario(t, logs[0].new(t))
	before := len(all(t, log))
	var buf bytes.Buffer
	appended := 0
	_, err := export.Export(context.Background(), log, &buf, export.Options{
		PageSize: 3,
		OnProgress: func(export.Progress) {
			e, err := events.New(uuid.New(), events.Meta{CorpID: "acme", OccurredAt: t0, Actor: "system"},
				&events.StaffDeparted{StaffID: "s2"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := log.Append(context.Background(), events.StaffStream("acme", "s2"), eventlog.ExpectAny, e); err != nil {
				t.Fatal(err)
			}
			appended++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if appended == 0 {
		t.Fatal("nothing appended during the export")
	}
	if got := len(parseJSONL(t, buf.Bytes())); got != before {
		t.Fatalf("%d rows, want the %d events there were when the export started", got, before)
	}
}

func TestResumeAfter(t *testing.T) {
	log := scenario(t, logs[1].new(t))
	recs := all(t, log)
	var buf bytes.Buffer
	after, until := recs[4].Position, recs[11].Position
	st, err := export.Export(context.Background(), log, &buf, export.Options{After: after, Until: until, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	rows := parseJSONL(t, buf.Bytes())
	if len(rows) != 7 || rows[0].EventID != recs[5].ID.String() || rows[6].EventID != recs[11].ID.String() {
		t.Fatalf("got %d rows (stats %+v), want events 5..11", len(rows), st)
	}
}

func TestEmptyLog(t *testing.T) {
	for _, f := range export.Formats {
		var buf bytes.Buffer
		st, err := export.Export(context.Background(), memlog.New(), &buf, export.Options{Format: f})
		if err != nil || st.Written != 0 {
			t.Fatalf("%s: %+v %v", f, st, err)
		}
		if got := parse(t, f, buf.Bytes()); len(got) != 0 {
			t.Fatalf("%s: %d rows from an empty log", f, len(got))
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	o := export.Options{
		Format:   "xml",
		PageSize: -1,
		Filter: export.Filter{
			TimeField: "bogus", From: t0, To: t0, Types: []string{""}, StreamPrefixes: []string{""},
		},
	}
	err := o.Validate()
	if !errors.Is(err, export.ErrInvalidOptions) || !errors.Is(err, export.ErrUnknownFormat) {
		t.Fatalf("Validate = %v", err)
	}
	for _, want := range []string{"xml", "page size", "time field", "not before", "empty event type", "empty stream prefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	var ok export.Options
	if err := ok.Validate(); err != nil || ok.Format != export.JSONL || ok.Filter.TimeField != export.Occurred {
		t.Fatalf("defaults: %+v %v", ok, err)
	}
}

// failing fails ReadAll after a number of pages.
type failing struct {
	testLog
	pages int
}

var errBroken = errors.New("connection lost")

func (f *failing) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	if f.pages == 0 {
		return nil, errBroken
	}
	f.pages--
	return f.testLog.ReadAll(ctx, from, limit)
}

func TestReadErrorAndCancel(t *testing.T) {
	log := scenario(t, logs[0].new(t))
	var buf bytes.Buffer
	st, err := export.Export(context.Background(), &failing{testLog: log, pages: 2}, &buf, export.Options{PageSize: 3})
	if !errors.Is(err, errBroken) || st.Read != 6 {
		t.Fatalf("err = %v after %d events, want the log's error after 6", err, st.Read)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = export.Export(ctx, log, &buf, export.Options{PageSize: 3, OnProgress: func(export.Progress) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestErasureRecordedButKeyKept: a customer.erased (staff.erased) event
// whose key destruction never happened (a crash between the two steps)
// still keeps the customer's (member's) personal data out of an export.
func TestErasureRecordedButKeyKept(t *testing.T) {
	for _, l := range logs {
		t.Run(l.name, func(t *testing.T) {
			ctx := context.Background()
			log := l.new(t)
			add := func(stream string, p events.Payload) {
				e, err := events.New(uuid.New(), events.Meta{CorpID: "acme", OccurredAt: t0, Actor: "wecom"}, p)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := log.Append(ctx, stream, eventlog.ExpectAny, e); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []string{"kept", "half-erased"} {
				add(events.CustomerStream("acme", c), &events.CustomerRelationStarted{CustomerID: c, StaffID: "s1",
					Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd, PII: events.RelationPII{CustomerName: "name of " + c}})
			}
			add(events.CustomerStream("acme", "half-erased"), &events.CustomerErased{CustomerID: "half-erased"})
			// A staff member likewise: the name of the join and the group
			// nickname sealed under the member's key.
			add(events.StaffStream("acme", "s-half"), &events.StaffJoined{StaffID: "s-half", PII: events.StaffPII{Name: "name of s-half"}})
			add(events.GroupChatStream("acme", "g1"), &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "s-half",
				MemberType: events.MemberStaff, JoinScene: events.JoinInvited, PII: events.GroupMemberPII{Nickname: "nickname of s-half"}})
			add(events.StaffStream("acme", "s-half"), &events.StaffErased{StaffID: "s-half"})
			for _, f := range export.Formats {
				var buf bytes.Buffer
				st, err := export.Export(ctx, log, &buf, export.Options{Format: f, IncludePII: true})
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(buf.Bytes(), []byte("name of half-erased")) || bytes.Contains(buf.Bytes(), []byte("of s-half")) ||
					!bytes.Contains(buf.Bytes(), []byte("name of kept")) {
					t.Fatalf("%s: export %s", f, buf.Bytes())
				}
				rows := parse(t, f, buf.Bytes())
				if st.PIIWritten != 1 || st.PIIErased != 3 || !rows[1].PIIErased || rows[1].PII != "" ||
					!rows[3].PIIErased || rows[3].PII != "" || !rows[4].PIIErased || rows[4].PII != "" {
					t.Fatalf("%s: stats %+v, rows %+v", f, st, rows)
				}
			}
		})
	}
}
