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
// still the stream's event at its version, and its delta only while the
// delta's event is.
const readSnapshotSQL = `
SELECT s.version, s.data, d.stream_version, CASE WHEN d.stream IS NOT NULL THEN s.delta END
FROM snapshots s
JOIN events e ON e.stream = s.stream AND e.stream_version = s.version AND e.event_id = s.event_id
LEFT JOIN events d ON d.stream = s.stream AND d.stream_version = s.delta_version AND d.event_id = s.delta_event_id
WHERE s.stream = $1`

// writeSnapshotSQL stores a snapshot at the version of an event of the
// stream, without a delta, replacing an older snapshot, or one whose event
// is gone (a rebuilt log), only.
const writeSnapshotSQL = `
INSERT INTO snapshots AS s (stream, version, event_id, data)
SELECT $1, $2, e.event_id, $3 FROM events e WHERE e.stream = $1 AND e.stream_version = $2
ON CONFLICT (stream) DO UPDATE SET version = excluded.version, event_id = excluded.event_id,
    data = excluded.data, written_at = now(), delta_version = NULL, delta_event_id = NULL, delta = NULL
WHERE s.version < excluded.version
    OR NOT EXISTS (SELECT FROM events o WHERE o.event_id = s.event_id AND o.stream = s.stream AND o.stream_version = s.version)
RETURNING true`

// writeDeltaSQL stores a delta on the stream's snapshot at version $2
// while that snapshot's event is still there, replacing an older delta,
// or one whose event is gone. The snapshot's data is not assigned: the
// new row version keeps its out-of-line value as it is.
const writeDeltaSQL = `
UPDATE snapshots s SET delta_version = $3, delta_event_id = d.event_id, delta = $4, written_at = now()
FROM events d
WHERE s.stream = $1 AND s.version = $2
    AND d.stream = $1 AND d.stream_version = $3
    AND EXISTS (SELECT FROM events e WHERE e.stream = s.stream AND e.stream_version = s.version AND e.event_id = s.event_id)
    AND (s.delta_version IS NULL OR s.delta_version < $3
        OR NOT EXISTS (SELECT FROM events o WHERE o.stream = s.stream AND o.stream_version = s.delta_version AND o.event_id = s.delta_event_id))
RETURNING true`

// ReadSnapshot implements eventlog.Snapshots.
func (s *Store) ReadSnapshot(ctx context.Context, stream string) (_ eventlog.Snapshot, _ bool, err error) {
	defer func() { err = unavailable(ctx, err) }()
	var (
		snap         eventlog.Snapshot
		deltaVersion *int64
	)
	err = s.pool.QueryRow(ctx, readSnapshotSQL, stream).Scan(&snap.Version, &snap.Data, &deltaVersion, &snap.Delta.Data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventlog.Snapshot{}, false, nil
	case err != nil:
		return eventlog.Snapshot{}, false, fmt.Errorf("pgstore: read snapshot of %q: %w", stream, err)
	}
	if deltaVersion == nil || snap.Delta.Data == nil {
		snap.Delta = eventlog.SnapshotDelta{}
	} else {
		snap.Delta.Version = *deltaVersion
	}
	return snap, true, nil
}

// WriteSnapshot implements eventlog.Snapshots.
func (s *Store) WriteSnapshot(ctx context.Context, stream string, snap eventlog.Snapshot) (err error) {
	defer func() { err = unavailable(ctx, err) }()
	if stream == "" || snap.Version < 0 || snap.Data == nil || snap.Delta.Data != nil {
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
	return s.mustHoldEvent(ctx, stream, snap.Version, "snapshot")
}

// WriteSnapshotDelta implements eventlog.Snapshots.
func (s *Store) WriteSnapshotDelta(ctx context.Context, stream string, base int64, d eventlog.SnapshotDelta) (err error) {
	defer func() { err = unavailable(ctx, err) }()
	if stream == "" || base < 0 || d.Version <= base || d.Data == nil {
		return fmt.Errorf("%w: snapshot delta of %q at version %d on %d with %d bytes", eventlog.ErrInvalidEvent, stream, d.Version, base, len(d.Data))
	}
	var stored bool
	err = s.pool.QueryRow(ctx, writeDeltaSQL, stream, base, d.Version, d.Data).Scan(&stored)
	if !errors.Is(err, pgx.ErrNoRows) {
		if err != nil {
			return fmt.Errorf("pgstore: write snapshot delta of %q: %w", stream, err)
		}
		return nil
	}
	// Nothing written: no snapshot at base, a newer delta, or no such event.
	return s.mustHoldEvent(ctx, stream, d.Version, "snapshot delta")
}

// mustHoldEvent returns nil when the stream holds an event at version, an
// error wrapping ErrInvalidEvent otherwise.
func (s *Store) mustHoldEvent(ctx context.Context, stream string, version int64, what string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM events WHERE stream = $1 AND stream_version = $2)`, stream, version).Scan(&exists); err != nil {
		return fmt.Errorf("pgstore: write %s of %q: %w", what, stream, err)
	}
	if !exists {
		return fmt.Errorf("%w: %s of %q at version %d: no such event", eventlog.ErrInvalidEvent, what, stream, version)
	}
	return nil
}
