package commands_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// errKilled is what every call of a killed process's log returns.
var errKilled = errors.New("crash test: process killed")

// crashLog lets the first allow appends through and then dies: that append
// and every later call (reads too) fail, as when the process is killed
// between two writes. With onKill set it calls onKill instead of dying
// and lets everything through afterwards: the database dropped the
// process's connections between the writes.
type crashLog struct {
	eventlog.EventLog
	onKill func()

	mu      sync.Mutex
	allow   int // -1: no limit
	appends int
	killed  bool // the kill happened (dead, or onKill called)
	dead    bool
}

func (l *crashLog) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	l.mu.Lock()
	if !l.dead && l.allow >= 0 && l.appends == l.allow {
		l.killed = true
		if l.onKill == nil {
			l.dead = true
		} else {
			l.onKill()
			l.allow = -1
		}
	}
	if l.dead {
		l.mu.Unlock()
		return eventlog.AppendResult{}, errKilled
	}
	l.appends++
	l.mu.Unlock()
	return l.EventLog.Append(ctx, stream, expected, evs...)
}

func (l *crashLog) alive() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return errKilled
	}
	return nil
}

func (l *crashLog) ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	if err := l.alive(); err != nil {
		return nil, err
	}
	return l.EventLog.ReadStream(ctx, stream, from)
}

func (l *crashLog) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	if err := l.alive(); err != nil {
		return nil, err
	}
	return l.EventLog.ReadAll(ctx, from, limit)
}

func (l *crashLog) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	if err := l.alive(); err != nil {
		return err
	}
	return l.EventLog.Subscribe(ctx, from, handle)
}

func (l *crashLog) Head(ctx context.Context) (events.Position, error) {
	if err := l.alive(); err != nil {
		return events.Position{}, err
	}
	return l.EventLog.Head(ctx)
}

func (l *crashLog) fired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.killed
}

func (l *crashLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appends
}

// crashStore is one log as several processes see it.
type crashStore struct {
	// base is the log of the process that sets up and checks.
	base   eventlog.EventLog
	eraser eventlog.Eraser
	// connect opens another process's connection to the same log; the
	// returned terminate (nil where there is no server to drop
	// connections) drops that connection's sessions on the server.
	connect func(t *testing.T, name string) (log eventlog.EventLog, terminate func())
	// settle, when not nil, waits until every event committed so far is
	// readable with ReadAll: on PostgreSQL a transaction still running
	// anywhere on the server (a NOTIFY, another session) holds readers
	// back, and ReadAll would end early at an empty page.
	settle func(t *testing.T)
}

type crashBackend struct {
	name string
	open func(t *testing.T) crashStore
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// crashBackends are memlog, pgstore and the KurrentDB adapter on its
// protocol-level stand-in.
var crashBackends = []crashBackend{
	{"memlog", func(t *testing.T) crashStore {
		l := memlog.New()
		return crashStore{base: l, eraser: l, connect: func(*testing.T, string) (eventlog.EventLog, func()) { return l, nil }}
	}},
	{"pgstore", func(t *testing.T) crashStore {
		ctx := context.Background()
		url := pgtest.NewDatabase(t)
		keyring := pii.NewMemoryKeyring()
		open := func(t *testing.T, app string) *pgstore.Store {
			conf, err := pgxpool.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			conf.ConnConfig.RuntimeParams["application_name"] = app
			pool, err := pgxpool.NewWithConfig(ctx, conf)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			s, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		base := open(t, "crash-base")
		if err := base.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		settlePool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(settlePool.Close)
		return crashStore{base: base, eraser: base, connect: func(t *testing.T, name string) (eventlog.EventLog, func()) {
			return open(t, name), func() { terminateBackends(t, url, name) }
		}, settle: func(t *testing.T) { settleXmin(t, settlePool) }}
	}},
	{"kurrent", func(t *testing.T) crashStore {
		srv, err := kurrentstandin.Start(kurrentstandin.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := srv.Close(); err != nil {
				t.Error(err)
			}
		})
		keyring := pii.NewMemoryKeyring()
		open := func(t *testing.T) *kurrent.Log {
			l, err := kurrent.Open(context.Background(), srv.URL(), kurrent.Options{Keyring: keyring, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		}
		base := open(t)
		return crashStore{base: base, eraser: base, connect: func(t *testing.T, _ string) (eventlog.EventLog, func()) {
			return open(t), nil
		}}
	}},
}

// settleXmin waits until every transaction that began before the call has
// ended: then ReadAll reads every event committed before it (the xmin
// bound of pgstore's package doc).
func settleXmin(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var now uint64
	if err := pool.QueryRow(ctx, `SELECT pg_current_xact_id()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var xmin uint64
		if err := pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())`).Scan(&xmin); err != nil {
			t.Fatal(err)
		}
		if xmin > now {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transactions older than %d still running after a minute (xmin %d)", now, xmin)
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
}

// terminateBackends makes PostgreSQL end every session the application
// has and waits until they are gone (sessions it opens meanwhile live on).
func terminateBackends(t *testing.T, url, app string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM unnest($1::int4[]) AS pid`, pids); err != nil {
		t.Fatal(err)
	}
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int4[])`, pids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d sessions of %s still there after pg_terminate_backend", n, app)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// anyCorp serves the same settings to every corp, so each crash case gets
// a corp of its own on a shared log.
type anyCorp struct{ set corp.Settings }

func (a anyCorp) Settings(context.Context, string) (corp.Settings, error) {
	return a.set.WithDefaults(), nil
}

// crashScenario is a two-stream command and the state it runs on.
type crashScenario struct {
	name  string
	setup func(c *crashCase)
	// run carries the command out through h (c.h set it up).
	run func(c *crashCase, h *commands.Handler, m commands.Meta) error
	// retry: the command takes a command id, so a client can retry it.
	retry bool
}

// crashCase is one scenario run on its own corp of a shared log.
type crashCase struct {
	// clock is the handlers' clock; a scenario may move it forward.
	clock *time.Time
	t     *testing.T
	ctx   context.Context
	corp  string
	h     *commands.Handler
	store crashStore
}

func (c *crashCase) meta() commands.Meta { return commands.Meta{CorpID: c.corp, Actor: "admin:ops"} }

func (c *crashCase) must(_ any, err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *crashCase) join(id string, capacity int) {
	c.t.Helper()
	c.must(c.h.JoinStaff(c.ctx, commands.JoinStaff{Meta: c.meta(), StaffID: id, Capacity: capacity}))
}

func (c *crashCase) add(cust, staffID string) {
	c.t.Helper()
	c.must(c.h.StartRelation(c.ctx, commands.StartRelation{Meta: c.meta(), CustomerID: cust, StaffID: staffID, Initiator: events.InitiatorStaff}))
}

func (c *crashCase) request(kind, from, to string, customers ...string) {
	c.t.Helper()
	b, err := c.h.RequestHandover(c.ctx, commands.RequestHandover{Meta: c.meta(), Kind: kind, FromStaffID: from, ToStaffID: to, CustomerIDs: customers})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, o := range b.Outcomes {
		if o.Status != "pending" {
			c.t.Fatalf("setup request: %+v", o)
		}
	}
}

func requestCmd(kind, from, to string, customers ...string) func(*crashCase, *commands.Handler, commands.Meta) error {
	return func(c *crashCase, h *commands.Handler, m commands.Meta) error {
		_, err := h.RequestHandover(c.ctx, commands.RequestHandover{Meta: m, Kind: kind, FromStaffID: from, ToStaffID: to, CustomerIDs: customers})
		return err
	}
}

// handoverID finds the customer's pending handover.
func (c *crashCase) handoverID(cust string) string {
	c.t.Helper()
	recs, err := c.store.base.ReadStream(c.ctx, events.CustomerStream(c.corp, cust), 0)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, r := range recs {
		if p, ok := decode(c.t, r).(*events.HandoverRequested); ok {
			return p.HandoverID
		}
	}
	c.t.Fatalf("no handover of %s", cust)
	return ""
}

var crashScenarios = []crashScenario{
	{
		name:  "start relation",
		setup: func(c *crashCase) { c.join("a", 0) },
		run: func(c *crashCase, h *commands.Handler, m commands.Meta) error {
			_, err := h.StartRelation(c.ctx, commands.StartRelation{Meta: m, CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorCustomer})
			return err
		},
		retry: true,
	},
	{
		name:  "end relation",
		setup: func(c *crashCase) { c.join("a", 0); c.add("c1", "a") },
		run: func(c *crashCase, h *commands.Handler, m commands.Meta) error {
			_, err := h.EndRelation(c.ctx, commands.EndRelation{Meta: m, CustomerID: "c1", StaffID: "a", Reason: events.EndDeletedByCustomer})
			return err
		},
		retry: true,
	},
	{
		name: "end relation with a pending handover",
		setup: func(c *crashCase) {
			c.join("a", 0)
			c.join("b", 0)
			c.add("c1", "a")
			c.request(events.HandoverInService, "a", "b", "c1")
		},
		run: func(c *crashCase, h *commands.Handler, m commands.Meta) error {
			_, err := h.EndRelation(c.ctx, commands.EndRelation{Meta: m, CustomerID: "c1", StaffID: "a", Reason: events.EndDeletedByStaff})
			return err
		},
		retry: true,
	},
	{
		name:  "in-service handover",
		setup: func(c *crashCase) { c.join("a", 0); c.join("b", 0); c.add("c1", "a") },
		run:   requestCmd(events.HandoverInService, "a", "b", "c1"),
		retry: true,
	},
	{
		name: "in-service batch beyond the target's capacity",
		setup: func(c *crashCase) {
			c.join("a", 0)
			c.join("b", 2)
			for _, id := range []string{"c1", "c2", "c3"} {
				c.add(id, "a")
			}
		},
		run:   requestCmd(events.HandoverInService, "a", "b", "c1", "c2", "c3"),
		retry: true,
	},
	{
		name: "resigned handover",
		setup: func(c *crashCase) {
			c.join("a", 0)
			c.join("b", 0)
			c.add("c1", "a")
			c.must(c.h.DepartStaff(c.ctx, commands.DepartStaff{Meta: c.meta(), StaffID: "a"}))
		},
		run:   requestCmd(events.HandoverResigned, "a", "b", "c1"),
		retry: true,
	},
	{
		name: "refuse",
		setup: func(c *crashCase) {
			c.join("a", 0)
			c.join("b", 0)
			c.add("c1", "a")
			c.request(events.HandoverInService, "a", "b", "c1")
		},
		run: func(c *crashCase, h *commands.Handler, m commands.Meta) error {
			_, err := h.RefuseHandover(c.ctx, commands.RefuseHandover{Meta: m, CustomerID: "c1", HandoverID: c.handoverID("c1")})
			return err
		},
		retry: true,
	},
	{
		name: "cancel",
		setup: func(c *crashCase) {
			c.join("a", 0)
			c.join("b", 0)
			c.add("c1", "a")
			c.request(events.HandoverInService, "a", "b", "c1")
		},
		run: func(c *crashCase, h *commands.Handler, m commands.Meta) error {
			_, err := h.CancelHandover(c.ctx, commands.CancelHandover{Meta: m, CustomerID: "c1", HandoverID: c.handoverID("c1")})
			return err
		},
		retry: true,
	},
	{
		name: "settle completes",
		setup: func(c *crashCase) {
			c.join("a", 0)
			c.join("b", 0)
			c.add("c1", "a")
			c.request(events.HandoverInService, "a", "b", "c1")
		},
		run: func(c *crashCase, h *commands.Handler, m commands.Meta) error {
			// Settling needs the server's clock at the deadline.
			*c.clock = t0.Add(24 * time.Hour)
			_, err := h.SettleDue(c.ctx, m.CorpID, t0.Add(24*time.Hour))
			return err
		},
		// The settle job has no command id; a handover it completed is no
		// longer due, so running it again does not come back to it: the
		// keeper converges it.
		retry: false,
	},
	{
		name: "target departs with pending handovers",
		setup: func(c *crashCase) {
			c.join("a", 0)
			c.join("b", 0)
			c.add("c1", "a")
			c.add("c2", "a")
			c.request(events.HandoverInService, "a", "b", "c1", "c2")
		},
		run: func(c *crashCase, h *commands.Handler, m commands.Meta) error {
			_, err := h.DepartStaff(c.ctx, commands.DepartStaff{Meta: m, StaffID: "b"})
			return err
		},
		retry: true,
	},
}

// Crash variants: what happens after the kill.
const (
	variantNone      = "none"      // nothing: shows the kill leaves the log half-applied
	variantKeeper    = "keeper"    // a restarted process's SlotKeeper catches up
	variantRetry     = "retry"     // the client retries with the same command id
	variantTerminate = "terminate" // PostgreSQL drops the sessions between the writes; then the keeper
)

// TestCrashAtEveryAppendConverges kills every two-stream command before
// each of its appends in turn (k = 0..n appends let through) and checks
// that afterwards, without the client retrying (a restarted process's
// SlotKeeper catching up) and with the client retrying (same command id,
// fresh handler), the log satisfies the slot invariant (slotViolations).
// On pgstore a third variant has PostgreSQL terminate the process's
// sessions between the writes. The variant that does nothing after the
// kill must break the invariant for some k: the crashes are real.
func TestCrashAtEveryAppendConverges(t *testing.T) {
	for _, b := range crashBackends {
		t.Run(b.name, func(t *testing.T) {
			for _, sc := range crashScenarios {
				t.Run(sc.name, func(t *testing.T) {
					store := b.open(t)
					n := crashRun(t, store, sc, -1, "count").appends
					t.Logf("%d appends", n)
					if n < 2 {
						t.Fatalf("the command made %d appends; nothing to crash between", n)
					}
					variants := []string{variantNone, variantKeeper}
					if sc.retry {
						variants = append(variants, variantRetry)
					}
					if b.name == "pgstore" {
						variants = append(variants, variantTerminate)
					}
					for _, v := range variants {
						broken, failed := 0, 0
						for k := 0; k <= n; k++ {
							res := crashRun(t, store, sc, k, v)
							if res.err != nil {
								failed++
							}
							if v == variantNone {
								if len(res.violations) > 0 {
									broken++
								}
								continue
							}
							for _, msg := range res.violations {
								t.Errorf("%s, killed after %d of %d appends: %s", v, k, n, msg)
							}
						}
						if v == variantTerminate && failed == 0 {
							t.Errorf("terminating the sessions never made the command fail")
						}
						if v == variantNone && broken == 0 {
							t.Errorf("no kill between the %d appends broke the invariant: the injection does not reach between the writes", n)
						}
					}
				})
			}
		})
	}
}

type crashResult struct {
	appends    int
	violations []string
	// err is what the killed command returned.
	err error
}

// crashRun sets the scenario up on a corp of its own, runs the command on
// a process killed after allow appends, recovers as the variant says and
// returns what the invariant check found.
func crashRun(t *testing.T, store crashStore, sc crashScenario, allow int, variant string) crashResult {
	t.Helper()
	ctx := context.Background()
	corpID := fmt.Sprintf("k%d%s", allow+1, variant)
	set := corp.Settings{}
	now := t0
	// Every process reads and writes the staff snapshots of the log (none
	// on KurrentDB), the killed one included.
	snaps, _ := store.base.(eventlog.Snapshots)
	newHandler := func(log eventlog.EventLog) *commands.Handler {
		h, err := commands.New(commands.Options{
			Log: log, Eraser: store.eraser, Settings: anyCorp{set}, Clock: commands.ClockFunc(func() time.Time { return now }),
			Snapshots: snaps, SnapshotEvery: testSnapshotEvery,
		})
		if err != nil {
			t.Fatal(err)
		}
		return commands.DeltasOften(h)
	}
	c := &crashCase{clock: &now, t: t, ctx: ctx, corp: corpID, h: newHandler(store.base), store: store}
	start, err := store.base.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc.setup(c)
	before, err := store.base.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := c.meta()
	if variant == variantRetry {
		m.CommandID = "cmd-" + corpID
	}

	// The killed process and the restarted one share the test's
	// connection, except where the database drops the killed one's.
	procLog, restarted := store.base, store.base
	killed := &crashLog{EventLog: procLog, allow: allow}
	if variant == variantTerminate {
		var terminate func()
		killed.EventLog, terminate = store.connect(t, "crash-"+corpID)
		if terminate == nil {
			t.Fatal("no sessions to terminate on this log")
		}
		killed.onKill = terminate
		restarted, _ = store.connect(t, "restart-"+corpID)
	}
	cmdErr := sc.run(c, newHandler(killed), m)
	switch {
	case allow < 0 && cmdErr != nil:
		t.Fatalf("the command without a crash: %v", cmdErr)
	case variant != variantTerminate && killed.fired() && !errors.Is(cmdErr, errKilled):
		t.Fatalf("killed after %d appends, the command returned %v", allow, cmdErr)
	}

	h := newHandler(restarted)
	if store.settle != nil {
		store.settle(t)
	}
	switch variant {
	case variantKeeper, variantTerminate:
		cp := &commands.MemoryCheckpoint{}
		if err := cp.Save(ctx, before); err != nil {
			t.Fatal(err)
		}
		k, err := commands.NewSlotKeeper(h, commands.SlotKeeperOptions{Checkpoint: cp, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.CatchUp(ctx); err != nil {
			t.Fatalf("keeper: %v", err)
		}
	case variantRetry:
		if err := sc.run(c, h, m); err != nil {
			t.Fatalf("retry after a kill after %d appends: %v", allow, err)
		}
	}
	if store.settle != nil {
		store.settle(t)
	}
	var recs []events.Recorded
	for from := start; ; {
		page, err := store.base.ReadAll(ctx, from, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		recs = append(recs, page...)
		from = page[len(page)-1].Position
	}
	return crashResult{appends: killed.count(), violations: slotViolations(recs, corpID, set.WithDefaults()), err: cmdErr}
}
