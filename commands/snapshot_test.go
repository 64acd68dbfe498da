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

// writtenSnapshots counts the snapshots and deltas written and
// remembers the size of the last of each.
type writtenSnapshots struct {
	eventlog.Snapshots
	mu              sync.Mutex
	writes, deltas  int
	size, deltaSize int
}

func (w *writtenSnapshots) WriteSnapshot(ctx context.Context, stream string, s eventlog.Snapshot) error {
	w.mu.Lock()
	w.writes, w.size = w.writes+1, len(s.Data)
	w.mu.Unlock()
	return w.Snapshots.WriteSnapshot(ctx, stream, s)
}

func (w *writtenSnapshots) WriteSnapshotDelta(ctx context.Context, stream string, base int64, d eventlog.SnapshotDelta) error {
	w.mu.Lock()
	w.deltas, w.deltaSize = w.deltas+1, len(d.Data)
	w.mu.Unlock()
	return w.Snapshots.WriteSnapshotDelta(ctx, stream, base, d)
}

func (w *writtenSnapshots) count() (snapshots, size, deltas, deltaSize int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.size, w.deltas, w.deltaSize
}

// TestLargeSnapshotsGetDeltas: a member whose snapshot is large gets a
// delta on top of it every SnapshotEvery events, not a new snapshot,
// until the delta would outgrow a 32nd of the snapshot; a Handler that
// loads the snapshot and its delta reads the stream only after the delta
// and writes its own deltas on the same snapshot. So a large member's
// commands do not rewrite its snapshot every few events, and a cold load
// replays few events.
func TestLargeSnapshotsGetDeltas(t *testing.T) {
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
		snaps := log.(eventlog.Snapshots)
		written := &writtenSnapshots{Snapshots: snaps}
		reads := &staffReads{EventLog: log}
		newHandler := func() *commands.Handler {
			h, err := commands.New(commands.Options{Log: reads, Eraser: eraser, Settings: commands.SettingsMap{corpID: corp.Settings{}},
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
		if writes, size, deltas, _ := written.count(); writes != 1 || deltas != 0 || size < 40000 {
			t.Fatalf("%d snapshots (the last of %d bytes) and %d deltas written; want one of 40 kB or more", writes, size, deltas)
		}
		// One delta per event, until the next would be too large.
		for i := 1; ; i++ {
			add(h)
			writes, size, deltas, deltaSize := written.count()
			if writes == 1 {
				if deltas != i || deltaSize > size/32 {
					t.Fatalf("after %d events %d deltas, the last of %d bytes; want %d of at most %d", i, deltas, deltaSize, i, size/32)
				}
				continue
			}
			if writes != 2 || deltas != i-1 || i < 20 || deltaSize < size/64 {
				t.Fatalf("after %d events %d snapshots and %d deltas (the last of %d bytes, snapshot %d); want a second snapshot once the delta nears %d bytes",
					i, writes, deltas, deltaSize, size, size/32)
			}
			break
		}
		for range 5 {
			add(h)
		}
		snap, ok, err := snaps.ReadSnapshot(ctx, stream)
		if err != nil || !ok || snap.Delta.Data == nil || snap.Delta.Version != snap.Version+5 {
			t.Fatalf("snapshot at %d with delta at %d (found %v, %v); want a delta 5 events after it", snap.Version, snap.Delta.Version, ok, err)
		}
		// A Handler that loads them reads only after the delta, and goes
		// on writing deltas on the same snapshot.
		cold := newHandler()
		reads.reset()
		_, _, before, _ := written.count()
		add(cold)
		if froms := reads.reset(); len(froms) != 1 || froms[0] != snap.Delta.Version+1 {
			t.Errorf("cold Handler read the staff stream from %v, want once from %d (after the delta)", froms, snap.Delta.Version+1)
		}
		if writes, _, deltas, _ := written.count(); writes != 2 || deltas != before+1 {
			t.Errorf("cold Handler: %d snapshots and %d deltas, want 2 and %d", writes, deltas, before+1)
		}
		again, ok, err := snaps.ReadSnapshot(ctx, stream)
		if err != nil || !ok || again.Version != snap.Version || again.Delta.Version != snap.Delta.Version+1 {
			t.Fatalf("after the cold add: snapshot at %d with delta at %d (found %v, %v); want at %d with %d",
				again.Version, again.Delta.Version, ok, err, snap.Version, snap.Delta.Version+1)
		}
		s, err := staff.FromSnapshotDelta("big", again.Version, again.Data, again.Delta.Version, again.Delta.Data)
		if err != nil {
			t.Fatalf("stored snapshot and delta: %v", err)
		}
		if s.Used() != 2000+n || !s.Holds(fmt.Sprint("new", n)) || !s.Holds("new1") {
			t.Fatalf("stored snapshot and delta: %d slots; want %d, with new1 and new%d", s.Used(), 2000+n, n)
		}
	})
}
