package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/custody/custody/events/eventlog"
)

// testSnapshots checks the optional eventlog.Snapshots of a log that has
// it: one snapshot per stream, at the version of one of its events, never
// replaced by an older one; bad input is refused and changes nothing.
func testSnapshots(t *testing.T, h Harness, snaps eventlog.Snapshots) {
	ctx := ctxFor(t)
	read := func(stream string) (eventlog.Snapshot, bool) {
		t.Helper()
		s, ok, err := snaps.ReadSnapshot(ctx, stream)
		if err != nil {
			t.Fatalf("ReadSnapshot(%q): %v", stream, err)
		}
		return s, ok
	}
	want := func(stream string, version int64, data string) {
		t.Helper()
		s, ok := read(stream)
		if !ok || s.Version != version || !bytes.Equal(s.Data, []byte(data)) {
			t.Fatalf("snapshot of %q = %d %q (found %v), want %d %q", stream, s.Version, s.Data, ok, version, data)
		}
	}
	write := func(stream string, version int64, data string) error {
		t.Helper()
		return snaps.WriteSnapshot(ctx, stream, eventlog.Snapshot{Version: version, Data: []byte(data)})
	}

	if _, ok := read("snap-a"); ok {
		t.Fatal("snapshot of a stream that does not exist")
	}
	if err := write("snap-a", 0, "x"); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Fatalf("snapshot of a stream that does not exist: %v, want ErrInvalidEvent", err)
	}
	mustAppend(t, h.Log, "snap-a", eventlog.ExpectNoStream, batch(0, 3)...)
	mustAppend(t, h.Log, "snap-b", eventlog.ExpectNoStream, batch(3, 1)...)
	if _, ok := read("snap-a"); ok {
		t.Fatal("snapshot before any was written")
	}
	if err := write("snap-a", 1, "at 1"); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 1, "at 1")
	if _, ok := read("snap-b"); ok {
		t.Fatal("snapshot of snap-a read as snap-b's")
	}
	// An older or equal one does not replace it.
	if err := write("snap-a", 0, "at 0"); err != nil {
		t.Fatal(err)
	}
	if err := write("snap-a", 1, "at 1 again"); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 1, "at 1")
	// Bad input: nothing changes.
	for name, err := range map[string]error{
		"version without an event": write("snap-a", 3, "at 3"),
		"negative version":         write("snap-a", -1, "at -1"),
		"empty stream":             write("", 0, "x"),
		"nil data":                 snaps.WriteSnapshot(ctx, "snap-a", eventlog.Snapshot{Version: 2}),
	} {
		if !errors.Is(err, eventlog.ErrInvalidEvent) {
			t.Errorf("%s: %v, want ErrInvalidEvent", name, err)
		}
	}
	want("snap-a", 1, "at 1")
	// A newer one does; other streams keep theirs.
	if err := write("snap-b", 0, "b at 0"); err != nil {
		t.Fatal(err)
	}
	if err := write("snap-a", 2, "at 2"); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 2, "at 2")
	want("snap-b", 0, "b at 0")
	testSnapshotDeltas(t, h, snaps)
}

// testSnapshotDeltas checks deltas on top of snapshots, after
// testSnapshots: snap-a (events 0–2) has its snapshot at 2, snap-b (event
// 0) at 0. A delta is stored on the snapshot it names only, never
// replaced by an older one, dropped by a newer snapshot; bad input is
// refused and changes nothing.
func testSnapshotDeltas(t *testing.T, h Harness, snaps eventlog.Snapshots) {
	ctx := ctxFor(t)
	want := func(stream string, version int64, data string, deltaVersion int64, delta string) {
		t.Helper()
		s, ok, err := snaps.ReadSnapshot(ctx, stream)
		if err != nil {
			t.Fatalf("ReadSnapshot(%q): %v", stream, err)
		}
		var wantDelta []byte
		if delta != "" {
			wantDelta = []byte(delta)
		}
		if !ok || s.Version != version || string(s.Data) != data || s.Delta.Version != deltaVersion || !bytes.Equal(s.Delta.Data, wantDelta) || (s.Delta.Data == nil) != (delta == "") {
			t.Fatalf("snapshot of %q = %d %q, delta %d %q (found %v); want %d %q, delta %d %q",
				stream, s.Version, s.Data, s.Delta.Version, s.Delta.Data, ok, version, data, deltaVersion, delta)
		}
	}
	delta := func(stream string, base, version int64, data string) error {
		t.Helper()
		return snaps.WriteSnapshotDelta(ctx, stream, base, eventlog.SnapshotDelta{Version: version, Data: []byte(data)})
	}
	mustAppend(t, h.Log, "snap-a", eventlog.ExpectVersion(2), batch(10, 3)...) // versions 3–5

	if err := delta("snap-a", 2, 3, "d3"); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 2, "at 2", 3, "d3")
	want("snap-b", 0, "b at 0", 0, "")
	// An older or equal one does not replace it, nor one on another
	// version than the snapshot's.
	for _, d := range []struct {
		base, version int64
	}{{2, 3}, {1, 4}, {0, 5}} {
		if err := delta("snap-a", d.base, d.version, "stale"); err != nil {
			t.Fatalf("delta at %d on %d: %v", d.version, d.base, err)
		}
	}
	want("snap-a", 2, "at 2", 3, "d3")
	// Bad input: nothing changes.
	for name, err := range map[string]error{
		"version without an event": delta("snap-a", 2, 9, "d9"),
		"version not after base":   delta("snap-a", 2, 2, "d2"),
		"negative base":            delta("snap-a", -1, 4, "d4"),
		"empty stream":             delta("", 0, 1, "x"),
		"nil data":                 snaps.WriteSnapshotDelta(ctx, "snap-a", 2, eventlog.SnapshotDelta{Version: 4}),
		"snapshot with a delta": snaps.WriteSnapshot(ctx, "snap-a", eventlog.Snapshot{Version: 5, Data: []byte("at 5"),
			Delta: eventlog.SnapshotDelta{Version: 5, Data: []byte("x")}}),
	} {
		if !errors.Is(err, eventlog.ErrInvalidEvent) {
			t.Errorf("%s: %v, want ErrInvalidEvent", name, err)
		}
	}
	want("snap-a", 2, "at 2", 3, "d3")
	// A newer one does.
	if err := delta("snap-a", 2, 4, "d4"); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 2, "at 2", 4, "d4")
	// No delta without its snapshot.
	mustAppend(t, h.Log, "snap-c", eventlog.ExpectNoStream, batch(20, 2)...)
	if err := delta("snap-c", 0, 1, "c1"); err != nil {
		t.Fatal(err)
	}
	if s, ok, err := snaps.ReadSnapshot(ctx, "snap-c"); err != nil || ok {
		t.Fatalf("delta without a snapshot: %v %v %v", s, ok, err)
	}
	// A newer snapshot comes without a delta; one on the old snapshot is
	// not stored.
	if err := snaps.WriteSnapshot(ctx, "snap-a", eventlog.Snapshot{Version: 4, Data: []byte("at 4")}); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 4, "at 4", 0, "")
	if err := delta("snap-a", 2, 5, "d5 on 2"); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 4, "at 4", 0, "")
	if err := delta("snap-a", 4, 5, "d5"); err != nil {
		t.Fatal(err)
	}
	want("snap-a", 4, "at 4", 5, "d5")
	// A large snapshot comes back whole, byte for byte.
	large := make([]byte, 200_001)
	for i := range large {
		large[i] = byte(i*7 + i/251)
	}
	if err := snaps.WriteSnapshot(ctx, "snap-c", eventlog.Snapshot{Version: 1, Data: large}); err != nil {
		t.Fatal(err)
	}
	want("snap-c", 1, string(large), 0, "")
}
