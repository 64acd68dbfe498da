package commands_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/internal/proccpu"
)

// benchEachLog runs fn once per backend, on a fresh log.
func benchEachLog(b *testing.B, fn func(b *testing.B, log eventlog.EventLog, eraser eventlog.Eraser)) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			log, eraser := be.open(b)
			fn(b, log, eraser)
		})
	}
}

// BenchmarkStartRelation measures one add through the command layer (read
// the customer stream, decide, append, take the slot on the staff stream)
// against the baseline of appending the same two events directly.
func BenchmarkStartRelation(b *testing.B) {
	benchEachLog(b, func(b *testing.B, log eventlog.EventLog, eraser eventlog.Eraser) {
		ctx := context.Background()
		b.Run("baseline-raw-append", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				cid := fmt.Sprintf("raw%d", i)
				for _, e := range []struct {
					stream string
					p      events.Payload
				}{
					{events.CustomerStream(corpID, cid), &events.CustomerRelationStarted{CustomerID: cid, StaffID: "a", Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd, PII: events.RelationPII{Remark: "r"}}},
					{events.StaffStream(corpID, "raw"), &events.StaffSlotReserved{StaffID: "raw", CustomerID: cid, Reason: events.SlotForAdd}},
				} {
					ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: corpID, OccurredAt: t0, Actor: "system"}, e.p)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := log.Append(ctx, e.stream, eventlog.ExpectAny, ev); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run("command", func(b *testing.B) {
			h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Settings: commands.SettingsMap{corpID: corp.Settings{}}, Clock: &clock{t: t0}})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				_, err := h.StartRelation(ctx, commands.StartRelation{
					Meta: meta(), CustomerID: fmt.Sprintf("cmd%d", i), StaffID: "cmd", Initiator: events.InitiatorStaff, Remark: "r",
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkAddToBusyStaff measures an add for a member whose staff stream
// already holds 20,000 slot events: warm, with the Handler's staff cache
// (only new events are read); cold, a new Handler per add (a restart,
// another instance) that loads the member's snapshot and the events after
// it; and the baseline of a cold Handler without snapshots (the whole
// stream is read and replayed).
//
// The member's customers are numbered (old0, old1, …); with
// CUSTODY_BENCH_IDS=wecom they have ids like WeCom's external_userid (wm
// and 32 random characters), which share almost no prefix: a snapshot
// about eight times larger.
func BenchmarkAddToBusyStaff(b *testing.B) {
	const slots = 20000
	customerID := func(i int) string { return fmt.Sprintf("old%d", i) }
	if os.Getenv("CUSTODY_BENCH_IDS") == "wecom" {
		customerID = func(int) string {
			id := strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
			return "wm" + id[:32]
		}
	}
	benchEachLog(b, func(b *testing.B, log eventlog.EventLog, eraser eventlog.Eraser) {
		ctx := context.Background()
		stream := events.StaffStream(corpID, "busy")
		for i := 0; i < slots; i += 500 {
			evs := make([]events.Event, 500)
			for j := range evs {
				ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: corpID, OccurredAt: t0, Actor: "system"},
					&events.StaffSlotReserved{StaffID: "busy", CustomerID: customerID(i + j), Reason: events.SlotForAdd})
				if err != nil {
					b.Fatal(err)
				}
				evs[j] = ev
			}
			if _, err := log.Append(ctx, stream, eventlog.ExpectAny, evs...); err != nil {
				b.Fatal(err)
			}
		}
		newHandler := func(log eventlog.EventLog) *commands.Handler {
			h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Settings: commands.SettingsMap{corpID: corp.Settings{}}, Clock: &clock{t: t0}})
			if err != nil {
				b.Fatal(err)
			}
			return h
		}
		add := func(h *commands.Handler, id string) {
			if _, err := h.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: id, StaffID: "busy", Initiator: events.InitiatorStaff}); err != nil {
				b.Fatal(err)
			}
		}
		// The log without its Snapshots: a Handler on it neither reads
		// nor writes them.
		noSnapshots := struct{ eventlog.EventLog }{log}
		// -count runs each sub-benchmark again on the same log: new
		// customers every time.
		var runs int
		b.Run("baseline-cold-handler-no-snapshot", func(b *testing.B) {
			runs++
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				add(newHandler(noSnapshots), fmt.Sprintf("base%d-%d", runs, i))
			}
			cpu.report(b)
		})
		b.Run("cold-handler-snapshot", func(b *testing.B) {
			// The first load of the member writes its snapshot.
			runs++
			h := newHandler(log)
			add(h, fmt.Sprintf("first%d", runs))
			h.WaitSnapshots()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				h := newHandler(log)
				add(h, fmt.Sprintf("cold%d-%d", runs, i))
				h.WaitSnapshots() // a due snapshot is part of the cost
			}
			cpu.report(b)
		})
		b.Run("cached", func(b *testing.B) {
			runs++
			h := newHandler(log)
			add(h, fmt.Sprintf("warmup%d", runs))
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				add(h, fmt.Sprintf("warm%d-%d", runs, i))
			}
			h.WaitSnapshots()
			cpu.report(b)
		})
	})
}

// cpuMark is the CPU time used so far by this process and by its
// descendants (the private PostgreSQL the tests start: postmaster and
// backends), for CPU per operation, steadier than time on a shared
// machine. With TEST_DATABASE_URL set the server is not ours: pg-cpu is 0.
type cpuMark struct{ self, pg time.Duration }

func startCPU() cpuMark { return cpuMark{proccpu.Self(), proccpu.Descendants(os.Getpid())} }

// report adds go-cpu-µs/op and pg-cpu-µs/op to b's results.
func (m cpuMark) report(b *testing.B) {
	self, pg := proccpu.Self()-m.self, proccpu.Descendants(os.Getpid())-m.pg
	b.ReportMetric(float64(self.Microseconds())/float64(b.N), "go-cpu-µs/op")
	b.ReportMetric(float64(pg.Microseconds())/float64(b.N), "pg-cpu-µs/op")
}
