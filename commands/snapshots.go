package commands

import (
	"context"
	"time"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events/eventlog"
)

// snapshotTimeout bounds one background snapshot write.
const snapshotTimeout = 30 * time.Second

// deltaShare bounds a member's delta: while what changed since its last
// snapshot encodes in at most 1/deltaShare of that snapshot's size, the
// member's next write is a delta on top of it (eventlog.Snapshots'
// WriteSnapshotDelta: a few kB, the snapshot not written again); past
// that, a whole new snapshot. A member with 20,000 WeCom-like customer ids
// (a ~650 kB snapshot) so writes a delta every SnapshotEvery events and a
// snapshot about every 450 adds, and a cold load replays at most
// SnapshotEvery events after a snapshot and a delta of ≤ 20 kB. A small
// member (whose snapshot is no larger than a delta would be) gets whole
// snapshots only.
const deltaShare = 32

// loadStaff returns the member's aggregate as of its stored snapshot and
// delta, with the snapshot's version and size and the version it is at
// (the delta's, or the snapshot's), or a new aggregate, -1, 0 and -1 when
// there is no usable snapshot: none stored, the log unreadable (the
// stream read that follows reports it), or data that does not decode
// (another format, a corrupt row). A delta that does not decode is left
// out: the snapshot alone is used. A snapshot is only ever a shortcut;
// the caller catches the aggregate up with the events after it.
func (h *Handler) loadStaff(ctx context.Context, id, stream string) (s *staff.Staff, base int64, size int, at int64, err error) {
	if h.snapshots != nil {
		snap, ok, err := h.snapshots.ReadSnapshot(ctx, stream)
		if err == nil && ok {
			if snap.Delta.Data != nil {
				if s, err := staff.FromSnapshotDelta(id, snap.Version, snap.Data, snap.Delta.Version, snap.Delta.Data); err == nil {
					return s, snap.Version, len(snap.Data), snap.Delta.Version, nil
				}
			}
			if s, err := staff.FromSnapshot(id, snap.Version, snap.Data); err == nil {
				return s, snap.Version, len(snap.Data), snap.Version, nil
			}
		}
	}
	s, err = staff.New(id)
	return s, -1, 0, -1, err
}

// snapshotDue reports whether the entry's member is due for a snapshot or
// a delta: its stream grew by snapshotEvery events since the last one
// read or written.
func (h *Handler) snapshotDue(e *staffEntry) bool {
	return h.snapshots != nil && h.snapshotEvery >= 0 && e.s != nil && e.s.Version()-e.snapAt >= h.snapshotEvery
}

// snapshot writes, in the background, a delta on top of the member's last
// snapshot, or a whole snapshot when the delta would be too large (see
// deltaShare) or there is none to build on, once the member's stream grew
// by snapshotEvery events since the last written or read. Called with
// e.mu held: the aggregate is encoded here, the write goes on without it.
// A failed write is not retried: the next one comes snapshotEvery events
// later, and until then a cold load replays a little more (or, when a
// delta was lost to a newer snapshot of another Handler, the next delta
// on this Handler's snapshot is not stored until this Handler writes a
// whole one).
//
// After a whole snapshot the entry holds the member as restored from it
// (the same state): its slots searched in the encoded list, the changes
// since in small maps, so that deltas and the next snapshot cost a pass
// over those changes and over the list, and the member takes a few bytes
// per slot, not a map entry.
func (h *Handler) snapshot(e *staffEntry, stream string) {
	if !h.snapshotDue(e) {
		return
	}
	version := e.s.Version()
	if e.baseAt >= 0 {
		if delta, ok := e.s.MarshalDelta(); ok && len(delta) <= e.snapSize/h.deltaShare {
			e.snapAt = version
			base := e.baseAt
			h.write(func(ctx context.Context) error {
				return h.snapshots.WriteSnapshotDelta(ctx, stream, base, eventlog.SnapshotDelta{Version: version, Data: delta})
			})
			return
		}
	}
	snap := eventlog.Snapshot{Version: version}
	snap.Data, e.s = e.s.Compact()
	e.snapAt, e.baseAt, e.snapSize = version, version, len(snap.Data)
	h.write(func(ctx context.Context) error { return h.snapshots.WriteSnapshot(ctx, stream, snap) })
}

// write runs a snapshot write in the background.
func (h *Handler) write(fn func(ctx context.Context) error) {
	h.saving.Add(1)
	go func() {
		defer h.saving.Done()
		ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
		defer cancel()
		_ = fn(ctx)
	}()
}

// WaitSnapshots waits until the snapshot writes started so far are done
// (for a clean shutdown and for tests).
func (h *Handler) WaitSnapshots() { h.saving.Wait() }
