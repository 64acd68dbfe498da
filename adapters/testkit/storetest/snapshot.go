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
}
