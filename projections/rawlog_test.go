package projections

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
)

// rawLog is a Source holding events exactly as a test builds them: no
// validation, no sealing. It stands for a log that stored events before
// today's input validation existed (or a log written by other tools), so
// poison events can be projected.
type rawLog struct {
	mu      sync.Mutex
	recs    []events.Recorded
	changed chan struct{}
}

func newRawLog() *rawLog { return &rawLog{changed: make(chan struct{})} }

// appendRaw stores e on stream and returns it as recorded.
func (l *rawLog) appendRaw(stream string, e events.Event) events.Recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := uint64(len(l.recs)) + 1
	var version int64
	for _, r := range l.recs {
		if r.Stream == stream {
			version++
		}
	}
	rec := events.Recorded{Event: e, Stream: stream, StreamVersion: version,
		Position: events.Position{Commit: seq, Prepare: seq}, RecordedAt: base}
	l.recs = append(l.recs, rec)
	close(l.changed)
	l.changed = make(chan struct{})
	return rec
}

// add encodes p for corp at minute m and stores it on the payload's stream.
func (l *rawLog) add(t testing.TB, corp string, m int, p events.Payload) events.Recorded {
	t.Helper()
	e, err := events.New(uuid.New(), events.Meta{CorpID: corp, OccurredAt: minute(m), Actor: "system"}, p)
	if err != nil {
		t.Fatal(err)
	}
	return l.appendRaw(streamOf(corp, p), e)
}

// addBytes stores an event of type t (schema version v) with the given
// payload bytes, whatever they hold.
func (l *rawLog) addBytes(corp, stream, t string, v int, data, pii string) events.Recorded {
	e := events.Event{ID: uuid.New(), Type: t, SchemaVersion: v, CorpID: corp, OccurredAt: base, Actor: "system", Data: []byte(data)}
	if pii != "" {
		e.PII = []byte(pii)
	}
	return l.appendRaw(stream, e)
}

func (l *rawLog) after(from events.Position, limit int) ([]events.Recorded, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []events.Recorded
	for _, r := range l.recs {
		if from.Less(r.Position) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, l.changed
}

func (l *rawLog) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	recs, _ := l.after(from, limit)
	return recs, ctx.Err()
}

func (l *rawLog) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	for {
		recs, changed := l.after(from, 1000)
		for _, r := range recs {
			if err := handle(r); err != nil {
				return err
			}
			from = r.Position
		}
		if len(recs) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func (l *rawLog) Head(context.Context) (events.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) == 0 {
		return events.Start, nil
	}
	return l.recs[len(l.recs)-1].Position, nil
}
