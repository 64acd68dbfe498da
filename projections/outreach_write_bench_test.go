package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/custody/custody/events"
)

// BenchmarkOutreachApply times the outreach projection catching up over a
// generated log (20,000 customers: relations, consents, opt-outs,
// erasures, two departures, 1.5 mass messages per customer and their
// summaries): without the dashboard counters (outreachBefore:
// sqlOutreach{noCounters: true}), with them event by event (sqlOutreach,
// the statements before the batch's deliveries and refreshes were
// set-based) and as it is (Outreach), alternately, each on a fresh
// database, in batches of 1000.
//
//	go test ./projections -run '^$' -bench OutreachApply -benchtime 1x -count 1 -v
func BenchmarkOutreachApply(b *testing.B) {
	w := newWorld(b)
	n := 20_000
	if v := lookupEnvInt("OUTREACH_APPLY_CUSTOMERS"); v > 0 {
		n = v
	}
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	for i := range n {
		c, s := fmt.Sprintf("wm%06d", i), fmt.Sprintf("s%03d", i%200)
		w.addAt(at(i), "c1", started(c, s, "web", "vip"))
		if i%10 == 3 {
			w.addAt(at(i), "c1", started(c, fmt.Sprintf("s%03d", (i+101)%200), "web"))
		}
		switch {
		case i%20 == 0:
			w.addAt(at(i), "c1", &events.ConsentRecorded{CustomerID: c, Purpose: events.PurposeMarketing, State: events.ConsentDisagree, ChangedAt: at(i)})
		case i%17 == 0:
			w.addAt(at(i), "c1", &events.MomentsOptedOut{CustomerID: c, StaffID: s})
		case i%100 == 1:
			w.addAt(at(i), "c1", &events.CustomerErased{CustomerID: c})
		}
	}
	for k := range 3 * n / 2 {
		c := fmt.Sprintf("wm%06d", (k*7919)%n)
		msg := fmt.Sprintf("m%d", k/1000)
		w.addOutreach(at(n+k), events.OutreachCustomerStream("c1", c), delivered(msg, c))
		if k%1000 == 999 {
			w.addOutreach(at(n+k), events.OutreachMessageStream("c1", msg), &events.OutreachSent{MessageID: msg,
				Channel: events.ChannelMassMessage, StaffID: "s1", CustomerIDs: []string{c}, ReportedBy: events.ReportedByCustody})
		}
	}
	w.add(0, &events.StaffDeparted{StaffID: "s007"})
	w.add(0, &events.StaffDeparted{StaffID: "s107"})
	all, err := w.log.ReadAll(context.Background(), events.Position{}, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	total := len(all)
	b.Logf("%d events", total)
	for round := range 2 {
		for _, v := range []struct {
			name string
			p    Projection
		}{{"outreachBefore", sqlOutreach{noCounters: true}}, {"sqlOutreach", sqlOutreach{}}, {"Outreach", Outreach{}}} {
			p := v.p
			b.Run(fmt.Sprintf("%s round %d", v.name, round), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					pool := newDB(b)
					if err := MigrateProjections(context.Background(), pool, p); err != nil {
						b.Fatal(err)
					}
					r, err := NewRunner(pool, w.log, Options{Projections: []Projection{p}, BatchSize: 1000})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if _, err := r.CatchUp(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
