package commands

import (
	"context"
	"time"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events/eventlog"
)

// snapshotTimeout bounds one background snapshot write.
const snapshotTimeout = 30 * time.Second

// loadStaff returns the member's aggregate as of its stored snapshot and
// the snapshot's version, or a new aggregate and -1 when there is no
// usable snapshot: none stored, the log unreadable (the stream read that
// follows reports it), or data that does not decode (another format, a
// corrupt row). A snapshot is only ever a shortcut; the caller catches
// the aggregate up with the events after it.
func (h *Handler) loadStaff(ctx context.Context, id, stream string) (*staff.Staff, int64, error) {
	if h.snapshots != nil {
		snap, ok, err := h.snapshots.ReadSnapshot(ctx, stream)
		if err == nil && ok {
			if s, err := staff.FromSnapshot(id, snap.Version, snap.Data); err == nil {
				return s, snap.Version, nil
			}
		}
	}
	s, err := staff.New(id)
	return s, -1, err
}

// snapshot writes the entry's aggregate as a snapshot in the background
// when its stream grew by snapshotEvery events since the last snapshot
// read or written. Called with e.mu held: the aggregate is encoded here,
// the write goes on without it. A failed write is not retried: the next
// one comes snapshotEvery events later, and until then a cold load
// replays a little more.
//
// The entry then holds the member as restored from that snapshot (the
// same state): its slots searched in the encoded list, the changes since
// in small maps, so that the next snapshot is one pass over the list and
// the member takes a few bytes per slot, not a map entry.
func (h *Handler) snapshot(e *staffEntry, stream string) {
	if h.snapshots == nil || h.snapshotEvery < 0 || e.s == nil || e.s.Version()-e.snapAt < h.snapshotEvery {
		return
	}
	var snap eventlog.Snapshot
	snap.Version = e.s.Version()
	snap.Data, e.s = e.s.Compact()
	e.snapAt = snap.Version
	h.saving.Add(1)
	go func() {
		defer h.saving.Done()
		ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
		defer cancel()
		_ = h.snapshots.WriteSnapshot(ctx, stream, snap)
	}()
}

// WaitSnapshots waits until the snapshot writes started so far are done
// (for a clean shutdown and for tests).
func (h *Handler) WaitSnapshots() { h.saving.Wait() }
