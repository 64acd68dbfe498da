package memlog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/custody/custody/events/eventlog"
)

var _ eventlog.Snapshots = (*Log)(nil)

// snapshot is a stored eventlog.Snapshot and the id of its event.
type snapshot struct {
	eventlog.Snapshot
	event uuid.UUID
}

// ReadSnapshot implements eventlog.Snapshots.
func (l *Log) ReadSnapshot(_ context.Context, stream string) (eventlog.Snapshot, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, ok := l.snapshots[stream]
	if !ok {
		return eventlog.Snapshot{}, false, nil
	}
	if idx := l.streams[stream]; s.Version >= int64(len(idx)) || l.all[idx[s.Version]].rec.ID != s.event {
		return eventlog.Snapshot{}, false, nil
	}
	return eventlog.Snapshot{Version: s.Version, Data: append([]byte(nil), s.Data...)}, true, nil
}

// WriteSnapshot implements eventlog.Snapshots.
func (l *Log) WriteSnapshot(_ context.Context, stream string, s eventlog.Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[stream]
	if stream == "" || s.Version < 0 || s.Data == nil || s.Version >= int64(len(idx)) {
		return fmt.Errorf("%w: snapshot of %q at version %d with %d bytes", eventlog.ErrInvalidEvent, stream, s.Version, len(s.Data))
	}
	if old, ok := l.snapshots[stream]; ok && old.Version >= s.Version {
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
