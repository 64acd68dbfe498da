package commands_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/custody/custody/adapters/testkit/poll"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const corpID = "corp1"

// testSnapshotEvery is the Handlers' SnapshotEvery in the tests of
// capacity, convergence, crashes and concurrency: a staff snapshot or
// delta every few events (commands.DeltasOften: a delta while it is no
// larger than the snapshot), so that their members are decided on as
// restored from snapshots and deltas (by the Handler that wrote one and
// by every Handler started later: other instances, restarts after a
// crash) and not only as replayed from their streams.
const testSnapshotEvery = 3

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// backend opens a fresh event log.
type backend struct {
	name string
	open func(t testing.TB) (eventlog.EventLog, eventlog.Eraser)
}

// backends are the logs every command test runs on: the in-memory log and
// the real PostgreSQL log.
var backends = []backend{
	{"memlog", func(t testing.TB) (eventlog.EventLog, eventlog.Eraser) {
		l := memlog.New()
		return l, l
	}},
	{"pgstore", func(t testing.TB) (eventlog.EventLog, eventlog.Eraser) {
		ctx := context.Background()
		pool := pgtest.NewPool(t)
		if err := pgstore.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
		s, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: pii.NewMemoryKeyring()})
		if err != nil {
			t.Fatal(err)
		}
		return s, s
	}},
}

// eachLog runs fn once per backend.
func eachLog(t *testing.T, fn func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			log, eraser := b.open(t)
			fn(t, log, eraser)
		})
	}
}

// clock is a settable fixed clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// recordingEraser remembers the subjects it erased and passes them on.
type recordingEraser struct {
	next     eventlog.Eraser
	mu       sync.Mutex
	subjects []string
}

func (e *recordingEraser) Erase(ctx context.Context, subject string) error {
	e.mu.Lock()
	e.subjects = append(e.subjects, subject)
	e.mu.Unlock()
	return e.next.Erase(ctx, subject)
}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	log    eventlog.EventLog
	eraser *recordingEraser
	clock  *clock
	h      *commands.Handler
	set    corp.Settings
}

func newFixture(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser, set corp.Settings) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), log: log, eraser: &recordingEraser{next: eraser}, clock: &clock{t: t0}, set: set.WithDefaults()}
	h, err := commands.New(commands.Options{
		Log: log, Eraser: f.eraser, Clock: f.clock, Settings: commands.SettingsMap{corpID: set}, SnapshotEvery: testSnapshotEvery,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.h = commands.DeltasOften(h)
	return f
}

func meta() commands.Meta { return commands.Meta{CorpID: corpID, Actor: "admin:ops"} }

func metaAt(at time.Time) commands.Meta {
	m := meta()
	m.OccurredAt = at
	return m
}

func (f *fixture) must(_ any, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) join(ids ...string) {
	f.t.Helper()
	for _, id := range ids {
		f.must(f.h.JoinStaff(f.ctx, commands.JoinStaff{Meta: meta(), StaffID: id, Name: "name of " + id}))
	}
}

func (f *fixture) add(customerID, staffID string) {
	f.t.Helper()
	f.must(f.h.StartRelation(f.ctx, commands.StartRelation{
		Meta: meta(), CustomerID: customerID, StaffID: staffID, Initiator: events.InitiatorStaff, AddWay: 1,
		State: "expo", Tags: []string{"vip"}, CustomerName: "王五", Remark: "老客户",
	}))
}

func (f *fixture) stream(name string) []events.Recorded {
	f.t.Helper()
	recs, err := f.log.ReadStream(f.ctx, name, 0)
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

func types(recs []events.Recorded) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Type
	}
	return out
}

func (f *fixture) customerTypes(id string) []string {
	return types(f.stream(events.CustomerStream(corpID, id)))
}

func (f *fixture) staff(id string) *staff.Staff {
	f.t.Helper()
	s, err := staff.Rehydrate(id, f.stream(events.StaffStream(corpID, id)))
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) head() events.Position {
	f.t.Helper()
	p, err := f.log.Head(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// headAfter is the log's head once it shows the last event of every
// stream named: pgstore's head stays below transactions still open
// anywhere on the server (another test's), so a head read right after an
// append may not show it yet.
func (f *fixture) headAfter(streams ...string) events.Position {
	f.t.Helper()
	var last events.Position
	for _, s := range streams {
		if recs := f.stream(s); len(recs) > 0 && last.Less(recs[len(recs)-1].Position) {
			last = recs[len(recs)-1].Position
		}
	}
	var head events.Position
	poll.Until(f.t, "the head shows the streams' last events", func() bool {
		head = f.head()
		return !head.Less(last)
	})
	return head
}

// since returns every event after p, in log order.
func (f *fixture) since(p events.Position) []events.Recorded {
	f.t.Helper()
	var out []events.Recorded
	for {
		recs, err := f.log.ReadAll(f.ctx, p, 500)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, recs...)
		if len(recs) < 500 {
			return out
		}
		p = recs[len(recs)-1].Position
	}
}

func decode(t *testing.T, r events.Recorded) events.Payload {
	t.Helper()
	p, err := events.DecodeRecorded(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }
