package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events/eventlog"
)

var _ eventlog.Snapshots = (*Store)(nil)

// readSnapshotSQL returns the stream's snapshot only while its event is
// still the stream's event at its version.
const readSnapshotSQL = `
SELECT s.version, s.data FROM snapshots s
JOIN events e ON e.stream = s.stream AND e.stream_version = s.version AND e.event_id = s.event_id
WHERE s.stream = $1`

// writeSnapshotSQL stores a snapshot at the version of an event of the
// stream, replacing an older one, or one whose event is gone (a rebuilt
// log), only.
const writeSnapshotSQL = `
INSERT INTO snapshots AS s (stream, version, event_id, data)
SELECT $1, $2, e.event_id, $3 FROM events e WHERE e.stream = $1 AND e.stream_version = $2
ON CONFLICT (stream) DO UPDATE SET version = excluded.version, event_id = excluded.event_id,
    data = excluded.data, written_at = now()
WHERE s.version < excluded.version
    OR NOT EXISTS (SELECT FROM events o WHERE o.event_id = s.event_id AND o.stream = s.stream AND o.stream_version = s.version)
RETURNING true`

// ReadSnapshot implements eventlog.Snapshots.
func (s *Store) ReadSnapshot(ctx context.Context, stream string) (_ eventlog.Snapshot, _ bool, err error) {
	defer func() { err = unavailable(ctx, err) }()
	var snap eventlog.Snapshot
	err = s.pool.QueryRow(ctx, readSnapshotSQL, stream).Scan(&snap.Version, &snap.Data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventlog.Snapshot{}, false, nil
	case err != nil:
		return eventlog.Snapshot{}, false, fmt.Errorf("pgstore: read snapshot of %q: %w", stream, err)
	}
	return snap, true, nil
}

// WriteSnapshot implements eventlog.Snapshots.
func (s *Store) WriteSnapshot(ctx context.Context, stream string, snap eventlog.Snapshot) (err error) {
	defer func() { err = unavailable(ctx, err) }()
	if stream == "" || snap.Version < 0 || snap.Data == nil {
		return fmt.Errorf("%w: snapshot of %q at version %d with %d bytes", eventlog.ErrInvalidEvent, stream, snap.Version, len(snap.Data))
	}
	var stored bool
	err = s.pool.QueryRow(ctx, writeSnapshotSQL, stream, snap.Version, snap.Data).Scan(&stored)
	if !errors.Is(err, pgx.ErrNoRows) {
		if err != nil {
			return fmt.Errorf("pgstore: write snapshot of %q: %w", stream, err)
		}
		return nil
	}
	// Nothing written: a newer snapshot is stored, or no such event.
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM events WHERE stream = $1 AND stream_version = $2)`, stream, snap.Version).Scan(&exists); err != nil {
		return fmt.Errorf("pgstore: write snapshot of %q: %w", stream, err)
	}
	if !exists {
		return fmt.Errorf("%w: snapshot of %q at version %d: no such event", eventlog.ErrInvalidEvent, stream, snap.Version)
	}
	return nil
}
