package projections

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

// TestOutreachCountsFollowTheLog: after a random history of relations,
// consents, erasures, opt-outs, departures and deliveries (late ones
// too), and a time-zone change half way, the dashboard counters answer
// what the exact aggregate over the rows answers, for dates across a
// month and a week boundary and under every cap setting; applied live in
// batches of 1 and 50, and equal to a clean rebuild.
func TestOutreachCountsFollowTheLog(t *testing.T) {
	for _, batch := range []int{1, 50} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			pool := newDB(t)
			w := newWorld(t)
			rng := rand.New(rand.NewPCG(19, uint64(batch)))
			ctx := context.Background()
			rd := NewReader(pool)
			cust := func() string { return fmt.Sprintf("cu%02d", rng.IntN(40)) }
			staff := func() string { return fmt.Sprintf("s%d", rng.IntN(6)) }
			states := []string{events.ConsentAgree, events.ConsentDisagree, events.ConsentDefaultAgree}
			// Deliveries from 2026-02-20 to 2026-03-12 (UTC), so that windows
			// straddle the end of February and a Monday.
			sendAt := func() time.Time {
				return time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(20*24*60)) * time.Minute)
			}
			msg := 0
			setZone := func(m int, zone string) {
				set, err := corp.Defaults().Apply(map[string]string{"time_zone": zone})
				if err != nil {
					t.Fatal(err)
				}
				w.addOutreach(minute(m), events.CorpSettingsStream("c1"), corp.ToEvent(set))
			}
			check := func(label string) {
				t.Helper()
				catchUp(t, newRunner(t, pool, w.log, batch))
				zone, err := rd.countsZone(ctx, "c1")
				if err != nil {
					t.Fatal(err)
				}
				for _, caps := range []map[string]string{
					{"time_zone": zone},
					{"time_zone": zone, "mass_message_cap_day": "1", "mass_message_cap_week": "2", "mass_message_cap_month": "3"},
					{"time_zone": zone, "mass_message_cap_week": "1", "mass_message_cap_month": "off"},
					{"time_zone": zone, "mass_message_cap_month": "off"},
				} {
					set, err := corp.Defaults().Apply(caps)
					if err != nil {
						t.Fatal(err)
					}
					for _, at := range []time.Time{
						time.Date(2026, 2, 28, 15, 59, 59, 0, time.UTC), time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC),
						time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC),
						time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC),
					} {
						win := capWindows(set, at)
						fast, err := rd.fastCounts(ctx, "c1", win)
						if err != nil {
							t.Fatal(err)
						}
						exact, err := rd.scanCounts(ctx, "c1", win)
						if err != nil {
							t.Fatal(err)
						}
						if fast != exact {
							t.Fatalf("%s, %v at %s: counters %+v, exact %+v", label, caps, at, fast, exact)
						}
						if via, err := rd.AudienceCounts(ctx, "c1", AudienceQuery{Settings: set, At: at}); err != nil || via != exact {
							t.Fatalf("%s: AudienceCounts %+v %v, exact %+v", label, via, err, exact)
						}
					}
				}
			}
			step := func(m int) {
				switch k := rng.IntN(20); {
				case k < 6:
					w.add(m, started(cust(), staff(), "web"))
				case k < 8:
					w.add(m, &events.CustomerRelationEnded{CustomerID: cust(), StaffID: staff(), Reason: events.EndDeletedByCustomer})
				case k < 10:
					w.add(m, &events.ConsentRecorded{CustomerID: cust(), Purpose: events.PurposeMarketing,
						State: states[rng.IntN(len(states))], ChangedAt: minute(rng.IntN(m + 1))})
				case k == 10:
					w.add(m, &events.CustomerErased{CustomerID: cust()})
				case k == 11:
					w.add(m, &events.MomentsOptedOut{CustomerID: cust(), StaffID: staff()})
				case k == 12:
					w.add(m, &events.MomentsOptedIn{CustomerID: cust(), StaffID: staff()})
				case k == 13 && rng.IntN(4) == 0:
					w.add(m, &events.StaffDeparted{StaffID: staff()})
				default:
					msg++
					c := cust()
					d := delivered(fmt.Sprintf("m%d", msg), c)
					if rng.IntN(5) == 0 {
						d.ReportedBy, d.Violations = events.ReportedByWeCom, []string{events.OutreachCapDay}
					}
					if rng.IntN(8) == 0 {
						d.Channel, d.Counted = events.ChannelMoments, false
					}
					if rng.IntN(10) == 0 {
						d.CustomerID, d.ChatID = "", "g1"
					}
					at := sendAt()
					w.addOutreach(at, events.OutreachCustomerStream("c1", c), d)
					if rng.IntN(6) == 0 { // the same delivery reported again
						w.addOutreach(at, events.OutreachCustomerStream("c1", c), d)
					}
				}
			}
			for m := range 300 {
				step(m)
			}
			check("Beijing")
			setZone(300, "UTC")
			for m := 301; m < 600; m++ {
				step(m)
			}
			check("UTC")
			setZone(600, "America/New_York")
			check("New York")
			if n := assertEqualsCleanRebuild(t, pool, w.log, []Projection{Outreach{}}); n == 0 {
				t.Fatal("nothing compared")
			}
		})
	}
}
