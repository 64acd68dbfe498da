package commands_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestSlotsMirrorRelations runs a long random sequence of commands (adds,
// deletes both ways, handovers requested, refused, cancelled and settled,
// departures) and then checks that the staff streams' slots agree with the
// customer streams: every active relation holds a slot, every slot belongs
// to an active relation or a pending handover, and no member is over the
// capacity its handovers had to respect.
func TestSlotsMirrorRelations(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ops := 1000
			if b.name != "memlog" {
				ops = 300
			}
			if testing.Short() {
				ops /= 4
			}
			seed := uint64(20260302)
			if v, err := strconv.ParseUint(os.Getenv("CUSTODY_TEST_SEED"), 10, 64); err == nil {
				seed = v
			}
			t.Logf("seed %d (set CUSTODY_TEST_SEED to vary)", seed)
			rng := rand.New(rand.NewPCG(seed, 7))
			log, eraser := b.open(t)
			f := newFixture(t, log, eraser, corp.Settings{StaffCapacity: 6})
			staffIDs := []string{"s0", "s1", "s2", "s3", "s4", "s5"}
			custIDs := make([]string, 15)
			for i := range custIDs {
				custIDs[i] = fmt.Sprintf("c%02d", i)
			}
			f.join(staffIDs...)
			customerStreams := make([]string, len(custIDs))
			for i, c := range custIDs {
				customerStreams[i] = events.CustomerStream(corpID, c)
			}
			departed := map[string]bool{}
			pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
			for range ops {
				c, s := pick(custIDs), pick(staffIDs)
				var err error
				switch n := rng.IntN(100); {
				case n < 30:
					_, err = f.h.StartRelation(f.ctx, commands.StartRelation{Meta: meta(), CustomerID: c, StaffID: s, Initiator: events.InitiatorCustomer})
				case n < 45:
					reason := events.EndDeletedByStaff
					if rng.IntN(2) == 0 {
						reason = events.EndDeletedByCustomer
					}
					_, err = f.h.EndRelation(f.ctx, commands.EndRelation{Meta: meta(), CustomerID: c, StaffID: s, Reason: reason})
				case n < 70:
					kind := events.HandoverInService
					if departed[s] {
						kind = events.HandoverResigned
					}
					to := pick(staffIDs)
					for to == s {
						to = pick(staffIDs)
					}
					_, err = f.h.RequestHandover(f.ctx, commands.RequestHandover{Meta: meta(), Kind: kind, FromStaffID: s, ToStaffID: to, CustomerIDs: []string{c}})
				case n < 80:
					err = f.settleOne(c, rng.IntN(2) == 0)
				case n < 93:
					f.clock.add(time.Duration(rng.IntN(30)) * time.Hour)
					// SettleDue finds due handovers in the log's order
					// (ReadAll), which on PostgreSQL stops below transactions
					// still open anywhere on the server, other tests' too:
					// wait until it shows every request made so far.
					f.headAfter(customerStreams...)
					if _, err = f.h.SettleDue(f.ctx, corpID, time.Time{}); err == nil {
						f.checkNothingDue(t, custIDs)
					}
				case n < 95:
					if len(departed) < 3 {
						_, err = f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: s})
						departed[s] = true
					}
				default:
					f.clock.add(100 * corp.Day)
				}
				if err != nil && isInfra(err) {
					t.Fatal(err)
				}
			}
			f.checkSlots(t, staffIDs, custIDs)
			f.checkInvariant(t, events.Start, corpID)
		})
	}
}

// settleOne refuses or cancels one of the customer's pending handovers.
func (f *fixture) settleOne(c string, refuse bool) error {
	cu, err := customer.Rehydrate(c, f.stream(events.CustomerStream(corpID, c)))
	if err != nil {
		return err
	}
	for _, h := range cu.Handovers() {
		if h.Status != customer.StatusPending {
			continue
		}
		if refuse {
			_, err = f.h.RefuseHandover(f.ctx, commands.RefuseHandover{Meta: meta(), CustomerID: c, HandoverID: h.ID})
		} else {
			_, err = f.h.CancelHandover(f.ctx, commands.CancelHandover{Meta: meta(), CustomerID: c, HandoverID: h.ID})
		}
		return err
	}
	return nil
}

// isInfra tells log failures from rule rejections, which the random
// sequence produces all the time.
func isInfra(err error) bool {
	return errors.Is(err, eventlog.ErrConflict) || errors.Is(err, commands.ErrUnreadableStream) ||
		errors.Is(err, commands.ErrInvalidCommand) || errors.Is(err, eventlog.ErrInvalidEvent)
}

func (f *fixture) checkSlots(t *testing.T, staffIDs, custIDs []string) {
	t.Helper()
	customers := map[string]*customer.Customer{}
	for _, c := range custIDs {
		cu, err := customer.Rehydrate(c, f.stream(events.CustomerStream(corpID, c)))
		if err != nil {
			t.Fatal(err)
		}
		customers[c] = cu
	}
	checked := 0
	for _, s := range staffIDs {
		st := f.staff(s)
		for _, c := range custIDs {
			cu := customers[c]
			rel, _ := cu.Relation(s)
			pendingTo := false
			for _, h := range cu.Handovers() {
				if h.Status == customer.StatusPending && h.To == s {
					pendingTo = true
				}
			}
			if rel.Active && !st.Holds(c) {
				t.Errorf("%s follows %s but holds no slot", s, c)
				f.dump(t, events.CustomerStream(corpID, c), c)
			}
			if st.Holds(c) && !rel.Active && !pendingTo {
				t.Errorf("%s holds a slot for %s without relation or pending handover", s, c)
			}
			if rel.Active {
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("the random sequence left no active relation to check")
	}
}

// dump logs a stream's events that mention who, to explain a failure.
func (f *fixture) dump(t *testing.T, stream, who string) {
	t.Helper()
	for _, r := range f.stream(stream) {
		t.Logf("  %s v%d %s %s %s", r.Stream, r.StreamVersion, r.OccurredAt.Format(time.RFC3339), r.Type, r.Data)
	}
}

// checkNothingDue fails when a handover whose deadline passed is still
// pending right after SettleDue.
func (f *fixture) checkNothingDue(t *testing.T, custIDs []string) {
	t.Helper()
	now := f.clock.Now()
	for _, c := range custIDs {
		cu, err := customer.Rehydrate(c, f.stream(events.CustomerStream(corpID, c)))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range cu.Handovers() {
			if h.Status == customer.StatusPending && !now.Before(h.Deadline) {
				t.Fatalf("handover %s of %s due at %s still pending after SettleDue at %s", h.ID, c, h.Deadline, now)
			}
		}
	}
}

// TestSlotsMirrorRelationsConcurrently runs random adds, deletes and
// handovers of few customers and members from several goroutines through
// one Handler, so the same pairs change at the same time, then checks the
// same agreement between slots and relations.
func TestSlotsMirrorRelationsConcurrently(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			const workers = 4
			ops := 150
			if b.name != "memlog" {
				ops = 40
			}
			log, eraser := b.open(t)
			f := newFixture(t, log, eraser, corp.Settings{StaffCapacity: 4})
			staffIDs := []string{"s0", "s1", "s2"}
			custIDs := []string{"c0", "c1"}
			f.join(staffIDs...)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 11))
					pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
					for range ops {
						c, s := pick(custIDs), pick(staffIDs)
						var err error
						switch n := rng.IntN(100); {
						case n < 35:
							_, err = f.h.StartRelation(f.ctx, commands.StartRelation{Meta: meta(), CustomerID: c, StaffID: s, Initiator: events.InitiatorCustomer})
						case n < 60:
							_, err = f.h.EndRelation(f.ctx, commands.EndRelation{Meta: meta(), CustomerID: c, StaffID: s, Reason: events.EndDeletedByCustomer})
						case n < 85:
							to := pick(staffIDs)
							for to == s {
								to = pick(staffIDs)
							}
							_, err = f.h.RequestHandover(f.ctx, commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: s, ToStaffID: to, CustomerIDs: []string{c}})
						default:
							err = f.settleOne(c, rng.IntN(2) == 0)
						}
						if err != nil && isInfra(err) {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			f.checkSlots(t, staffIDs, custIDs)
			f.checkInvariant(t, events.Start, corpID)
		})
	}
}
