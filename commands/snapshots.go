package commands

import (
	"context"
	"time"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events/eventlog"
)

// snapshotTimeout bounds one background snapshot write.
const snapshotTimeout = 30 * time.Second

// snapshotBytesPerEvent spaces the snapshots of large members: at least
// one event of the member's stream per snapshotBytesPerEvent bytes of its
// last snapshot passes before the next (and at least snapshotEvery), so
// that rewriting a member's snapshot costs its commands about the same
// per event whatever the member's size: a member with 20,000 WeCom-like
// customer ids (a ~660 kB snapshot) gets one every ~160 events instead of
// every 64.
const snapshotBytesPerEvent = 4096

// loadStaff returns the member's aggregate as of its stored snapshot, the
// snapshot's version and size, or a new aggregate, -1 and 0 when there is
// no usable snapshot: none stored, the log unreadable (the stream read
// that follows reports it), or data that does not decode (another format,
// a corrupt row). A snapshot is only ever a shortcut; the caller catches
// the aggregate up with the events after it.
func (h *Handler) loadStaff(ctx context.Context, id, stream string) (*staff.Staff, int64, int, error) {
	if h.snapshots != nil {
		snap, ok, err := h.snapshots.ReadSnapshot(ctx, stream)
		if err == nil && ok {
			if s, err := staff.FromSnapshot(id, snap.Version, snap.Data); err == nil {
				return s, snap.Version, len(snap.Data), nil
			}
		}
	}
	s, err := staff.New(id)
	return s, -1, 0, err
}

// snapshotDue reports whether the entry's member is due for a snapshot.
func (h *Handler) snapshotDue(e *staffEntry) bool {
	every := max(h.snapshotEvery, int64(e.snapSize/snapshotBytesPerEvent))
	return h.snapshots != nil && h.snapshotEvery >= 0 && e.s != nil && e.s.Version()-e.snapAt >= every
}

// snapshot writes the entry's aggregate as a snapshot in the background
// when its stream grew by snapshotEvery events (more for a large member,
// see snapshotBytesPerEvent) since the last snapshot read or written. Called with e.mu held: the aggregate is encoded here,
// the write goes on without it. A failed write is not retried: the next
// one comes snapshotEvery events later, and until then a cold load
// replays a little more.
//
// The entry then holds the member as restored from that snapshot (the
// same state): its slots searched in the encoded list, the changes since
// in small maps, so that the next snapshot is one pass over the list and
// the member takes a few bytes per slot, not a map entry.
func (h *Handler) snapshot(e *staffEntry, stream string) {
	if !h.snapshotDue(e) {
		return
	}
	var snap eventlog.Snapshot
	snap.Version = e.s.Version()
	snap.Data, e.s = e.s.Compact()
	e.snapAt, e.snapSize = snap.Version, len(snap.Data)
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
