package eventlog

import (
	"context"
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// Identity names one event log: its kind and an id the log keeps with its
// events. Positions mean something only in the log they came from, so
// whatever keeps a position (a projection's or relay route's checkpoint)
// must know the log's identity: a copy of the log (custody log copy) has
// the same events at other positions and another identity.
type Identity struct {
	// Kind is the log's implementation: "postgresql", "kurrentdb", "memory".
	Kind string
	// ID is the log's own id, created with its first use (a UUID).
	ID string
}

func (i Identity) String() string { return fmt.Sprintf("%s log %s", i.Kind, i.ID) }

// IsZero reports whether i names no log.
func (i Identity) IsZero() bool { return i == Identity{} }

// Identifier is implemented by event logs that know their Identity. The
// identity is created on first use and never changes afterwards.
type Identifier interface {
	Identity(ctx context.Context) (Identity, error)
}

// Copier is implemented by logs that can store events copied from another
// log with the time the source recorded them (custody log copy), so that a
// copy keeps every envelope field, RecordedAt included.
type Copier interface {
	// AppendCopied is Append, event i taking recordedAt[i] as its
	// RecordedAt instead of the time of this append. len(recordedAt) must
	// equal len(evs). An idempotent retry returns the stored originals.
	AppendCopied(ctx context.Context, stream string, expected ExpectedVersion, recordedAt []time.Time, evs ...events.Event) (AppendResult, error)
}
