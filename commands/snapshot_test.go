package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// staffReads records from where the staff streams are read.
type staffReads struct {
	eventlog.EventLog
	mu    sync.Mutex
	froms []int64
}

func (l *staffReads) ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	if strings.HasPrefix(stream, "staff-") {
		l.mu.Lock()
		l.froms = append(l.froms, from)
		l.mu.Unlock()
	}
	return l.EventLog.ReadStream(ctx, stream, from)
}

func (l *staffReads) reset() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.froms
	l.froms = nil
	return f
}

// A Handler that does not hold a member yet (a restart, another instance)
// loads the member's snapshot and reads only the events after it; the
// snapshots are written by whichever Handler saw the stream grow by
// SnapshotEvery events. A snapshot that does not decode is ignored: the
// member is rebuilt from its whole stream and a good snapshot replaces it.
func TestStaffSnapshots(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		ctx := context.Background()
		snaps := log.(eventlog.Snapshots)
		stream := events.StaffStream(corpID, "a")
		reads := &staffReads{EventLog: log}
		newHandler := func() *commands.Handler {
			h, err := commands.New(commands.Options{Log: reads, Eraser: eraser, Settings: commands.SettingsMap{corpID: corp.Settings{}},
				Clock: &clock{t: t0}, Snapshots: snaps, SnapshotEvery: 10})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		add := func(h *commands.Handler, c string) {
			t.Helper()
			if _, err := h.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: c, StaffID: "a", Initiator: events.InitiatorStaff}); err != nil {
				t.Fatal(err)
			}
		}
		first := newHandler()
		if _, err := first.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "a"}); err != nil {
			t.Fatal(err)
		}
		for i := range 25 {
			add(first, fmt.Sprint("c", i))
		}
		first.WaitSnapshots()
		snap, ok, err := snaps.ReadSnapshot(ctx, stream)
		if err != nil || !ok || snap.Version < 10 {
			t.Fatalf("snapshot after 26 events, one every 10: %d, found %v, %v; want version >= 10", snap.Version, ok, err)
		}

		// A cold Handler: snapshot plus tail.
		reads.reset()
		add(newHandler(), "c25")
		if froms := reads.reset(); len(froms) != 1 || froms[0] != snap.Version+1 {
			t.Errorf("cold Handler read the staff stream from %v, want once from %d (after the snapshot)", froms, snap.Version+1)
		}
		held := func(n int) {
			t.Helper()
			s, err := staff.Rehydrate("a", mustRead(t, log, stream))
			if err != nil {
				t.Fatal(err)
			}
			if s.Used() != n {
				t.Errorf("%d slots, want %d", s.Used(), n)
			}
			for i := range n {
				if !s.Holds(fmt.Sprint("c", i)) {
					t.Errorf("no slot for c%d", i)
				}
			}
		}
		held(26)

		// A snapshot that does not decode: rebuilt from the stream, and
		// replaced by a good one.
		last := mustRead(t, log, stream)
		bad := eventlog.Snapshot{Version: last[len(last)-1].StreamVersion, Data: []byte("custody.staff.v0\x00garbage")}
		if err := snaps.WriteSnapshot(ctx, stream, bad); err != nil {
			t.Fatal(err)
		}
		cold := newHandler()
		reads.reset()
		add(cold, "c26")
		if froms := reads.reset(); len(froms) == 0 || froms[0] != 0 {
			t.Errorf("with an unreadable snapshot the staff stream was read from %v, want from 0", froms)
		}
		held(27)
		cold.WaitSnapshots() // rebuilt from version -1: a snapshot is due
		snap, ok, err = snaps.ReadSnapshot(ctx, stream)
		if err != nil || !ok {
			t.Fatalf("snapshot: found %v, %v", ok, err)
		}
		if _, err := staff.FromSnapshot("a", snap.Version, snap.Data); err != nil {
			t.Errorf("the unreadable snapshot was not replaced: %v", err)
		}
	})
}

func mustRead(t *testing.T, log eventlog.EventLog, stream string) []events.Recorded {
	t.Helper()
	recs, err := log.ReadStream(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// writtenSnapshots counts the snapshots written and remembers the size of
// the last.
type writtenSnapshots struct {
	eventlog.Snapshots
	mu     sync.Mutex
	writes int
	size   int
}

func (w *writtenSnapshots) WriteSnapshot(ctx context.Context, stream string, s eventlog.Snapshot) error {
	w.mu.Lock()
	w.writes, w.size = w.writes+1, len(s.Data)
	w.mu.Unlock()
	return w.Snapshots.WriteSnapshot(ctx, stream, s)
}

func (w *writtenSnapshots) count() (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.size
}

// TestLargeSnapshotsAreSpaced: a member whose snapshot is large is
// snapshotted again only after one event per 4 kB of its last snapshot
// (more than SnapshotEvery), by the Handler that wrote it and by one that
// loaded it, so that the member's commands do not rewrite a large
// snapshot every few events.
func TestLargeSnapshotsAreSpaced(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		ctx := context.Background()
		stream := events.StaffStream(corpID, "big")
		// 2,000 customers with random ids: a snapshot of ~70 kB.
		evs := make([]events.Event, 2000)
		for i := range evs {
			ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: corpID, OccurredAt: t0, Actor: "system"},
				&events.StaffSlotReserved{StaffID: "big", CustomerID: uuid.NewString(), Reason: events.SlotForAdd})
			if err != nil {
				t.Fatal(err)
			}
			evs[i] = ev
		}
		if _, err := log.Append(ctx, stream, eventlog.ExpectNoStream, evs...); err != nil {
			t.Fatal(err)
		}
		written := &writtenSnapshots{Snapshots: log.(eventlog.Snapshots)}
		newHandler := func() *commands.Handler {
			h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Settings: commands.SettingsMap{corpID: corp.Settings{}},
				Clock: &clock{t: t0}, Snapshots: written, SnapshotEvery: 1})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		n := 0
		add := func(h *commands.Handler) {
			t.Helper()
			n++
			if _, err := h.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: fmt.Sprint("new", n), StaffID: "big", Initiator: events.InitiatorStaff}); err != nil {
				t.Fatal(err)
			}
			h.WaitSnapshots()
		}
		h := newHandler()
		add(h) // no snapshot yet: one is due
		writes, size := written.count()
		spacing := size / 4096
		if writes != 1 || spacing < 10 {
			t.Fatalf("%d snapshots of %d bytes written; want one of 40 kB or more", writes, size)
		}
		for range spacing - 1 {
			add(h)
		}
		if writes, _ := written.count(); writes != 1 {
			t.Fatalf("%d snapshots after %d events, one every %d (4 kB each)", writes, spacing-1, spacing)
		}
		add(h)
		if writes, _ := written.count(); writes != 2 {
			t.Fatalf("%d snapshots after %d events, one every %d", writes, spacing, spacing)
		}
		// A Handler that loads the snapshot spaces the next alike.
		cold := newHandler()
		for range spacing - 1 {
			add(cold)
		}
		if writes, _ := written.count(); writes != 2 {
			t.Fatalf("the Handler that loaded the snapshot wrote one after %d events", spacing-1)
		}
		add(cold)
		if writes, _ := written.count(); writes != 3 {
			t.Fatalf("%d snapshots, want 3", writes)
		}
	})
}
