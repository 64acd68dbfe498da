package commands_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// appendCounter counts the appends to one stream that the log stored.
type appendCounter struct {
	eventlog.EventLog
	stream  string
	appends atomic.Int64
}

func (l *appendCounter) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	res, err := l.EventLog.Append(ctx, stream, expected, evs...)
	if err == nil && stream == l.stream {
		l.appends.Add(1)
	}
	return res, err
}

// instances opens n Handlers as n custody processes would: each on its
// own pgstore log with its own pool, all on one database. Their logs count
// the appends to the member's stream.
func instances(tb testing.TB, n int, member string, staffBatch int) ([]*commands.Handler, []*appendCounter) {
	tb.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(tb)
	keyring := pii.NewMemoryKeyring()
	var hs []*commands.Handler
	var logs []*appendCounter
	for i := range n {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(pool.Close)
		if i == 0 {
			if err := pgstore.Migrate(ctx, pool); err != nil {
				tb.Fatal(err)
			}
		}
		store, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring})
		if err != nil {
			tb.Fatal(err)
		}
		l := &appendCounter{EventLog: store, stream: events.StaffStream(corpID, member)}
		h, err := commands.New(commands.Options{
			Log: l, Eraser: store, Snapshots: store, Settings: commands.SettingsMap{corpID: corp.Settings{}},
			Clock: &clock{t: t0}, StaffBatch: staffBatch, SnapshotEvery: testSnapshotEvery,
		})
		if err != nil {
			tb.Fatal(err)
		}
		hs = append(hs, commands.DeltasOften(h))
		logs = append(logs, l)
	}
	return hs, logs
}

// TestHotMemberAcrossInstances: three processes add 360 customers to one
// member at once (12 goroutines each). Every add succeeds, the member's
// stream holds exactly one slot per customer, and the processes needed far
// fewer appends to the member's stream than adds: concurrent decisions on
// one member were appended together. Then 20 handovers to the member,
// spread over the three, with room for 5: exactly 5 pending, 15 failed
// with target_at_capacity.
func TestHotMemberAcrossInstances(t *testing.T) {
	const procs, goroutines, addsEach, room, handovers = 3, 12, 10, 5, 20
	ctx := context.Background()
	hs, logs := instances(t, procs, "hot", 0)
	adds := procs * goroutines * addsEach
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(hs[0].JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "hot", Capacity: adds + room}))
	must(hs[0].JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "a"}))

	var wg sync.WaitGroup
	errs := make(chan error, adds)
	start := make(chan struct{})
	for p := range procs {
		for g := range goroutines {
			wg.Go(func() {
				<-start
				for i := range addsEach {
					_, err := hs[p].StartRelation(ctx, commands.StartRelation{
						Meta: meta(), CustomerID: fmt.Sprintf("c%d-%d-%d", p, g, i), StaffID: "hot", Initiator: events.InitiatorCustomer,
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("add: %v", err)
	}
	var appends int64
	for _, l := range logs {
		appends += l.appends.Load()
	}
	t.Logf("%d adds took %d appends to the member's stream", adds, appends)
	if appends >= int64(adds)/2 {
		t.Errorf("%d adds took %d appends to the member's stream: concurrent decisions were not appended together", adds, appends)
	}

	f := &fixture{t: t, ctx: ctx, log: logs[0].EventLog}
	hot := f.stream(events.StaffStream(corpID, "hot"))
	reserved := map[string]int{}
	for _, r := range hot {
		if e, ok := decode(t, r).(*events.StaffSlotReserved); ok {
			reserved[e.CustomerID]++
		}
	}
	if len(reserved) != adds || len(hot) != adds+1 {
		t.Fatalf("member's stream: %d events, slots for %d customers; want %d events (join and one slot per add)", len(hot), len(reserved), adds+1)
	}
	for c, n := range reserved {
		if n != 1 {
			t.Errorf("%d slot reservations for %s", n, c)
		}
	}

	// Capacity stays exact when the member's decisions are batched
	// across processes.
	ids := make([]string, handovers)
	for i := range ids {
		ids[i] = fmt.Sprintf("h%02d", i)
		must(hs[i%procs].StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: ids[i], StaffID: "a", Initiator: events.InitiatorStaff}))
	}
	start = make(chan struct{})
	outcomes := make([]commands.HandoverOutcome, handovers)
	for i := range ids {
		wg.Go(func() {
			<-start
			b, err := hs[i%procs].RequestHandover(ctx, commands.RequestHandover{
				Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "hot", CustomerIDs: ids[i : i+1],
			})
			if err != nil {
				t.Errorf("handover of %s: %v", ids[i], err)
				return
			}
			outcomes[i] = b.Outcomes[0]
		})
	}
	close(start)
	wg.Wait()
	pending, failed := 0, 0
	for _, id := range ids {
		c, err := customer.Rehydrate(id, f.stream(events.CustomerStream(corpID, id)))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range c.Handovers() {
			switch h.Status {
			case customer.StatusPending:
				pending++
			case customer.StatusFailed:
				failed++
			}
		}
	}
	if pending != room || failed != handovers-room {
		t.Fatalf("%d pending, %d failed handovers to a member with room for %d of %d; outcomes %v", pending, failed, room, handovers, outcomes)
	}
	if used := f.staff("hot").Used(); used != adds+room {
		t.Fatalf("member holds %d slots, want %d", used, adds+room)
	}
}

// BenchmarkHotMember measures adds for one member from 48 concurrent
// commands spread over 1 or 3 processes (Handlers on their own pools, one
// database): with decisions on the member's stream appended one by one
// (staffbatch=1, the path before batching: the baseline) and batched (the
// default). Reports adds/s.
func BenchmarkHotMember(b *testing.B) {
	for _, procs := range []int{1, 3} {
		for _, batch := range []int{1, commands.DefaultStaffBatch} {
			b.Run(fmt.Sprintf("procs=%d/staffbatch=%d", procs, batch), func(b *testing.B) {
				ctx := context.Background()
				hs, _ := instances(b, procs, "hot", batch)
				if _, err := hs[0].JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "hot"}); err != nil {
					b.Fatal(err)
				}
				var next atomic.Int64
				b.SetParallelism(24) // 48 goroutines on 2 cores
				began := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1)
						_, err := hs[int(i)%procs].StartRelation(ctx, commands.StartRelation{
							Meta: meta(), CustomerID: fmt.Sprintf("c%d", i), StaffID: "hot", Initiator: events.InitiatorCustomer,
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "adds/s")
			})
		}
	}
}
