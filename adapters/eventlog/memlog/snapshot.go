package memlog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/custody/custody/events/eventlog"
)

var _ eventlog.Snapshots = (*Log)(nil)

// snapshot is a stored eventlog.Snapshot, the id of its event and the id
// of its delta's event.
type snapshot struct {
	eventlog.Snapshot
	event, deltaEvent uuid.UUID
}

// at reports whether the stream's event at version has the id id: a
// snapshot or delta is only used while its event is still there.
func (l *Log) at(stream string, version int64, id uuid.UUID) bool {
	idx := l.streams[stream]
	return version >= 0 && version < int64(len(idx)) && l.all[idx[version]].rec.ID == id
}

// ReadSnapshot implements eventlog.Snapshots.
func (l *Log) ReadSnapshot(_ context.Context, stream string) (eventlog.Snapshot, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, ok := l.snapshots[stream]
	if !ok || !l.at(stream, s.Version, s.event) {
		return eventlog.Snapshot{}, false, nil
	}
	out := eventlog.Snapshot{Version: s.Version, Data: append([]byte(nil), s.Data...)}
	if s.Delta.Data != nil && l.at(stream, s.Delta.Version, s.deltaEvent) {
		out.Delta = eventlog.SnapshotDelta{Version: s.Delta.Version, Data: append([]byte(nil), s.Delta.Data...)}
	}
	return out, true, nil
}

// WriteSnapshot implements eventlog.Snapshots.
func (l *Log) WriteSnapshot(_ context.Context, stream string, s eventlog.Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[stream]
	if stream == "" || s.Version < 0 || s.Data == nil || s.Version >= int64(len(idx)) || s.Delta.Data != nil {
		return fmt.Errorf("%w: snapshot of %q at version %d with %d bytes", eventlog.ErrInvalidEvent, stream, s.Version, len(s.Data))
	}
	if old, ok := l.snapshots[stream]; ok && old.Version >= s.Version && l.at(stream, old.Version, old.event) {
		return nil
	}
	if l.snapshots == nil {
		l.snapshots = map[string]snapshot{}
	}
	l.snapshots[stream] = snapshot{
		Snapshot: eventlog.Snapshot{Version: s.Version, Data: append([]byte(nil), s.Data...)},
		event:    l.all[idx[s.Version]].rec.ID,
	}
	return nil
}

// WriteSnapshotDelta implements eventlog.Snapshots.
func (l *Log) WriteSnapshotDelta(_ context.Context, stream string, base int64, d eventlog.SnapshotDelta) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[stream]
	if stream == "" || base < 0 || d.Version <= base || d.Data == nil || d.Version >= int64(len(idx)) {
		return fmt.Errorf("%w: snapshot delta of %q at version %d on %d with %d bytes", eventlog.ErrInvalidEvent, stream, d.Version, base, len(d.Data))
	}
	s, ok := l.snapshots[stream]
	if !ok || s.Version != base || !l.at(stream, s.Version, s.event) ||
		s.Delta.Data != nil && s.Delta.Version >= d.Version && l.at(stream, s.Delta.Version, s.deltaEvent) {
		return nil
	}
	s.Delta = eventlog.SnapshotDelta{Version: d.Version, Data: append([]byte(nil), d.Data...)}
	s.deltaEvent = l.all[idx[d.Version]].rec.ID
	l.snapshots[stream] = s
	return nil
}
