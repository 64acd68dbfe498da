package commands_test

import (
	"fmt"
	"github.com/custody/custody/adapters/testkit/poll"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestConcurrentHandoversNeverExceedCapacity: 50 handovers to a target with
// room for 10, all at once, while two slot keepers of other processes
// converge the same pairs → exactly 10 pending, 40 failed with
// target_at_capacity, nothing else in the log, and the slot invariant
// holds.
func TestConcurrentHandoversNeverExceedCapacity(t *testing.T) {
	const n, room = 50, 10
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		f.must(f.h.JoinStaff(f.ctx, commands.JoinStaff{Meta: meta(), StaffID: "b", Capacity: room}))
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("c%02d", i)
			f.add(ids[i], "a")
		}
		head := f.head()
		keepers := []*commands.SlotKeeper{}
		for range 2 {
			k, _, _ := f.startKeeper(t, head)
			keepers = append(keepers, k)
		}

		outcomes := make([]commands.HandoverOutcome, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range ids {
			wg.Go(func() {
				<-start
				b, err := f.h.RequestHandover(f.ctx, commands.RequestHandover{
					Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: ids[i : i+1],
				})
				errs[i] = err
				if err == nil {
					outcomes[i] = b.Outcomes[0]
				}
			})
		}
		close(start)
		wg.Wait()
		for {
			last := f.head()
			for _, k := range keepers {
				poll.Until(t, "the keepers caught up", func() bool { return !k.Position().Less(last) })
			}
			if f.head() == last {
				break
			}
		}
		f.checkInvariant(t, head, corpID)

		count := map[string]int{}
		for i, o := range outcomes {
			if errs[i] != nil {
				t.Fatalf("customer %s: %v", ids[i], errs[i])
			}
			count[o.Status+"/"+o.FailReason]++
		}
		if count[customer.StatusPending+"/"] != room || count[customer.StatusFailed+"/"+events.FailTargetAtCapacity] != n-room || len(count) != 2 {
			t.Fatalf("outcomes %v, want %d pending and %d failed at capacity", count, room, n-room)
		}

		// The log holds exactly those facts and nothing else.
		recorded := map[string]int{}
		for _, r := range f.since(head) {
			key := r.Type
			switch p := decode(t, r).(type) {
			case *events.HandoverFailed:
				key += "/" + p.Reason
			case *events.StaffSlotReserved:
				key += "/" + p.StaffID + "/" + p.Reason
			}
			recorded[key]++
		}
		want := map[string]int{
			tRequested: n,
			tFailed + "/" + events.FailTargetAtCapacity: n - room,
			tReserved + "/b/" + events.SlotForHandover:  room,
		}
		if fmt.Sprint(recorded) != fmt.Sprint(want) {
			t.Fatalf("recorded %v, want %v", recorded, want)
		}
		if used := f.staff("b").Used(); used != room {
			t.Fatalf("target holds %d slots, capacity %d", used, room)
		}

		// The 10 complete when due; the target is then exactly full.
		f.clock.set(t0.Add(24 * time.Hour))
		rep, err := f.h.SettleDue(f.ctx, corpID, t0.Add(24*time.Hour))
		if err != nil || rep.Count(customer.StatusCompleted) != room || len(rep.Outcomes) != room {
			t.Fatalf("settle: %d outcomes, %d completed, %v", len(rep.Outcomes), rep.Count(customer.StatusCompleted), err)
		}
		if used := f.staff("b").Used(); used != room {
			t.Fatalf("after completion the target holds %d slots", used)
		}
	})
}

// TestConcurrentSettlersRecordOneOutcome: settle jobs of several instances
// (separate Handlers, as in separate processes) at once complete each
// handover once, and between them report each completion as new exactly
// once: the others see theirs replayed (same event ids) or skipped.
func TestConcurrentSettlersRecordOneOutcome(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		ids := make([]string, 40)
		for i := range ids {
			ids[i] = fmt.Sprintf("c%02d", i)
			f.add(ids[i], "a")
		}
		f.request(events.HandoverInService, "a", "b", ids...)
		f.clock.set(t0.Add(24 * time.Hour))
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			fresh = map[string]int{}
		)
		for range 4 {
			h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Clock: f.clock, Settings: commands.SettingsMap{corpID: corp.Settings{}}, SnapshotEvery: testSnapshotEvery})
			if err != nil {
				t.Fatal(err)
			}
			commands.DeltasOften(h)
			wg.Go(func() {
				rep, err := h.SettleDue(f.ctx, corpID, t0.Add(24*time.Hour))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, o := range rep.Outcomes {
					if o.Status == customer.StatusCompleted && !o.Replayed {
						fresh[o.CustomerID]++
					}
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if fresh[id] != 1 {
				t.Errorf("%s: reported completed (not replayed) by %d settlers, want exactly 1", id, fresh[id])
			}
		}
		for _, id := range ids {
			if got, want := f.customerTypes(id), []string{tStarted, tRequested, tCompleted, tEnded, tStarted}; !equal(got, want) {
				t.Fatalf("%s: %v, want %v", id, got, want)
			}
		}
	})
}
