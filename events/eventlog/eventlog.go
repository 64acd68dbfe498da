package eventlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/custody/custody/events"
)

// ExpectedVersion is the optimistic-concurrency condition of an append: the
// stream's current version (the 0-based version of its last event) that the
// writer decided on, or one of ExpectAny, ExpectNoStream, ExpectStreamExists.
type ExpectedVersion int64

const (
	// ExpectAny appends whatever the stream holds.
	ExpectAny ExpectedVersion = -1
	// ExpectNoStream appends only when the stream has no event yet.
	ExpectNoStream ExpectedVersion = -2
	// ExpectStreamExists appends only when the stream has at least one event.
	ExpectStreamExists ExpectedVersion = -3
)

// ExpectVersion is the condition "the stream's last event has version v".
func ExpectVersion(v int64) ExpectedVersion { return ExpectedVersion(v) }

// String formats e for errors and logs.
func (e ExpectedVersion) String() string {
	switch e {
	case ExpectAny:
		return "any"
	case ExpectNoStream:
		return "no-stream"
	case ExpectStreamExists:
		return "stream-exists"
	}
	if e < 0 {
		return fmt.Sprintf("invalid(%d)", int64(e))
	}
	return fmt.Sprintf("%d", int64(e))
}

// Valid reports whether e is one of the constants or a version >= 0.
func (e ExpectedVersion) Valid() bool { return e >= ExpectStreamExists }

// Sentinel errors of the EventLog port. Adapters translate their drivers'
// errors into these.
var (
	// ErrConflict: the stream's version did not match the expected version.
	ErrConflict = errors.New("event log: wrong expected version")
	// ErrInvalidEvent: the append was refused as malformed (empty stream,
	// nil id, missing type or corp, PII without a subject, ...). Nothing was
	// written.
	ErrInvalidEvent = errors.New("event log: invalid event")
	// ErrStreamNotFound: ReadStream of a stream with no events.
	ErrStreamNotFound = errors.New("event log: stream not found")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("event log: closed")
	// ErrUnavailable: the log could not be reached (connection refused or
	// dropped, the server shutting down or starting, a pool that cannot
	// hand out a connection). An Append that returns it may or may not have
	// been stored: carry the same command out again with the same event ids
	// (the same Meta.CommandID) once the log is back; the log keeps one
	// copy.
	ErrUnavailable = errors.New("event log unavailable")
)

// ConflictError carries the details of an ErrConflict.
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's current version, -1 when it does not exist.
	Actual int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("event log: stream %q: expected version %s, actual %d", e.Stream, e.Expected, e.Actual)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// AppendResult reports where appended events were stored.
type AppendResult struct {
	// Events are the appended events as recorded (stream version, position,
	// recorded time), in the order given. For an idempotent re-append they
	// are the originally stored ones.
	Events []events.Recorded
	// NextExpected is the stream's version after the append: the expected
	// version for the writer's next append.
	NextExpected ExpectedVersion
	// Replayed reports that every event of the call was already stored in
	// the stream at the same place (a retry, or another process carrying
	// out the same command with the same event ids) and nothing was
	// written by this call. Logs whose server deduplicates silently may
	// report such a write as fresh (KurrentDB does for an exact
	// expectation); they never report a fresh write as replayed.
	Replayed bool
}

// EventLog is the append-only log custody's state derives from. Adapters
// (adapters/eventlog/pgstore, adapters/eventlog/kurrent, adapters/eventlog/memlog) implement it and pass
// the shared conformance suite in adapters/testkit/storetest.
//
// Implementations are safe for concurrent use.
type EventLog interface {
	// Append writes evs to the end of stream atomically (all or none) if the
	// stream matches expected, and returns ErrConflict (wrapped in a
	// *ConflictError) otherwise. Events whose ids are already stored in the
	// stream at the same place are not written again: when every event of the
	// call is already stored, Append reports the original records and no
	// error, whatever expected says (idempotent retry). Personal data (PII)
	// is sealed under each event's Subject before it is stored.
	Append(ctx context.Context, stream string, expected ExpectedVersion, evs ...events.Event) (AppendResult, error)

	// ReadStream returns the stream's events with StreamVersion >= from, in
	// stream order, or ErrStreamNotFound when the stream has none at all.
	ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error)

	// ReadAll returns up to limit events strictly after from, in global
	// order. Only events that can no longer be preceded by a later commit
	// are returned, so paging by the last returned position never skips one.
	ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error)

	// Subscribe calls handle for every event strictly after from, in global
	// order: first the stored ones (catch-up), then live ones as they are
	// committed. Every committed event is delivered exactly once, none is
	// skipped, also while many writers append concurrently. Subscribe blocks
	// until ctx is done (returning ctx.Err()) or handle returns an error
	// (returning it). handle runs on one goroutine.
	Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error

	// Head is the position of the newest event that ReadAll would return now.
	Head(ctx context.Context) (events.Position, error)
}

// Eraser destroys a data subject's key, so that its sealed personal data can
// never be read again. Destroying an already destroyed key is no error.
type Eraser interface {
	Erase(ctx context.Context, subject string) error
}

// Snapshot is state derived from a stream (an encoded aggregate) as of
// the stream's event at Version. The log stores it beside the stream and
// never interprets Data.
type Snapshot struct {
	Version int64
	Data    []byte
	// Delta, in a snapshot read, is the newest delta written on top of
	// it (Data nil: none); WriteSnapshot takes none.
	Delta SnapshotDelta
}

// SnapshotDelta is what changed of a stream's state from its snapshot's
// version to the stream's event at Version, encoded by the caller: a
// large snapshot written rarely and a small delta written often keep
// both the writes and the events a load replays after them few.
type SnapshotDelta struct {
	Version int64
	Data    []byte
}

// Snapshots is an optional capability of an EventLog: one snapshot per
// stream, and at most one delta on top of it, shared by every process
// using the log, so that an aggregate with a long stream is loaded as its
// snapshot, its delta and the events after them instead of its whole
// stream. A snapshot is only a cache: a caller that cannot use one (none,
// unreadable, another format) reads the stream.
type Snapshots interface {
	// ReadSnapshot returns the stream's snapshot with its delta, ok false
	// when there is none. A snapshot whose event is no longer the
	// stream's event at its version (the log was rebuilt) is not
	// returned; nor is such a delta (the snapshot then comes without).
	ReadSnapshot(ctx context.Context, stream string) (s Snapshot, ok bool, err error)
	// WriteSnapshot stores s as the stream's snapshot, without a delta,
	// unless the stored one is as new or newer. The stream must hold an
	// event at s.Version and s must have no delta; otherwise nothing is
	// stored and the error wraps ErrInvalidEvent.
	WriteSnapshot(ctx context.Context, stream string, s Snapshot) error
	// WriteSnapshotDelta stores d as the delta on top of the stream's
	// snapshot at version base, replacing an older delta. When the stored
	// snapshot is not at base (none, or a newer one was written
	// meanwhile) or its delta is as new or newer, nothing is stored and
	// the error is nil. d.Version must be above base and the stream must
	// hold an event at d.Version; otherwise nothing is stored and the
	// error wraps ErrInvalidEvent.
	WriteSnapshotDelta(ctx context.Context, stream string, base int64, d SnapshotDelta) error
}
