package kurrent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// errWrongVersion is the server's WrongExpectedVersion, before it is
// turned into a *eventlog.ConflictError (or an idempotent success).
var errWrongVersion = errors.New("kurrent: wrong expected version")

// expectedRevision maps custody's expectation onto the client's.
func expectedRevision(e eventlog.ExpectedVersion) esdb.ExpectedRevision {
	switch e {
	case eventlog.ExpectAny:
		return esdb.Any{}
	case eventlog.ExpectNoStream:
		return esdb.NoStream{}
	case eventlog.ExpectStreamExists:
		return esdb.StreamExists{}
	}
	return esdb.Revision(uint64(e))
}

// exactRevision is the expectation "the stream's newest revision is
// current" (-1: no stream).
func exactRevision(current int64) esdb.ExpectedRevision {
	if current < 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(uint64(current))
}

// Append implements eventlog.EventLog. See the package comment for how
// expected versions and idempotent retries map onto KurrentDB.
func (l *Log) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	return l.appendAt(ctx, stream, expected, nil, evs)
}

var _ eventlog.Copier = (*Log)(nil)

// AppendCopied implements eventlog.Copier: the source's recording times
// travel in the events' metadata ("recorded_at") and are read back instead
// of the server's created date.
func (l *Log) AppendCopied(ctx context.Context, stream string, expected eventlog.ExpectedVersion, recordedAt []time.Time, evs ...events.Event) (eventlog.AppendResult, error) {
	if len(recordedAt) != len(evs) {
		return eventlog.AppendResult{}, fmt.Errorf("%w: %d recording times for %d events", eventlog.ErrInvalidEvent, len(recordedAt), len(evs))
	}
	return l.appendAt(ctx, stream, expected, recordedAt, evs)
}

// appendAt is Append with the events' recording times given (nil: the
// server's).
func (l *Log) appendAt(ctx context.Context, stream string, expected eventlog.ExpectedVersion, recordedAt []time.Time, evs []events.Event) (eventlog.AppendResult, error) {
	if err := validate(stream, expected, evs); err != nil {
		return eventlog.AppendResult{}, err
	}
	if _, ok := l.custodyStream(l.serverStream(stream)); !ok {
		// It would be stored but never seen by ReadAll or Subscribe.
		return eventlog.AppendResult{}, fmt.Errorf("%w: stream %q has none of the prefixes %q this log reads back", eventlog.ErrInvalidEvent, stream, l.opts.StreamPrefixes)
	}
	if err := ctx.Err(); err != nil {
		return eventlog.AppendResult{}, err
	}
	data, dropped, err := l.seal(ctx, evs, recordedAt)
	if err != nil {
		return eventlog.AppendResult{}, err
	}

	resolve := (expected == eventlog.ExpectAny || expected == eventlog.ExpectStreamExists) && !l.opts.DisableResolveAny
	if !resolve {
		wr, err := l.send(ctx, stream, expectedRevision(expected), data)
		switch {
		case errors.Is(err, errWrongVersion):
			return l.afterConflict(ctx, stream, expected, evs)
		case err != nil:
			return eventlog.AppendResult{}, err
		}
		return l.written(ctx, stream, expected, wr, evs, dropped, recordedAt)
	}

	current := int64(-1)
	for range l.opts.MaxAnyRetries {
		var tail []*esdb.RecordedEvent
		tail, current, err = l.tail(ctx, stream, len(evs))
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		if sameIDs(tail, evs) {
			return l.originals(ctx, stream, tail)
		}
		if expected == eventlog.ExpectStreamExists && current < 0 {
			return eventlog.AppendResult{}, &eventlog.ConflictError{Stream: stream, Expected: expected, Actual: -1}
		}
		wr, err := l.send(ctx, stream, exactRevision(current), data)
		switch {
		case errors.Is(err, errWrongVersion):
			continue // another writer got in between: look again
		case err != nil:
			return eventlog.AppendResult{}, err
		}
		return l.written(ctx, stream, expected, wr, evs, dropped, recordedAt)
	}
	return eventlog.AppendResult{}, fmt.Errorf("kurrent: overtaken by other writers %d times: %w", l.opts.MaxAnyRetries,
		&eventlog.ConflictError{Stream: stream, Expected: expected, Actual: current})
}

// seal encodes evs for the server, sealing personal data under each
// event's subject; dropped[i] reports that event i's subject is erased,
// so its personal data is not stored at all.
func (l *Log) seal(ctx context.Context, evs []events.Event, recordedAt []time.Time) ([]esdb.EventData, []bool, error) {
	data := make([]esdb.EventData, len(evs))
	dropped := make([]bool, len(evs))
	for i, e := range evs {
		var sealed []byte
		if len(e.PII) > 0 {
			s, err := l.opts.Keyring.Seal(ctx, e.Subject, e.PII)
			switch {
			case errors.Is(err, pii.ErrErased):
				dropped[i] = true
			case err != nil:
				return nil, nil, fmt.Errorf("kurrent: seal personal data: %w", err)
			default:
				sealed = s
			}
		}
		var at *time.Time
		if recordedAt != nil {
			at = &recordedAt[i]
		}
		d, err := eventData(e, sealed, dropped[i], at)
		if err != nil {
			return nil, nil, err
		}
		data[i] = d
	}
	return data, dropped, nil
}

// send appends data in one call and translates the client's errors.
func (l *Log) send(ctx context.Context, stream string, rev esdb.ExpectedRevision, data []esdb.EventData) (*esdb.WriteResult, error) {
	var wr *esdb.WriteResult
	err := l.do(ctx, func(ctx context.Context, c *esdb.Client) error {
		var err error
		wr, err = c.AppendToStream(ctx, l.serverStream(stream), esdb.AppendToStreamOptions{ExpectedRevision: rev}, data...)
		return err
	})
	if err == nil {
		return wr, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if code(err) == esdb.ErrorCodeWrongExpectedVersion {
		return nil, errWrongVersion
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.InvalidArgument {
		// The server refuses a malformed or oversized append (its maximum
		// append size, 1 MiB by default) as a whole.
		return nil, fmt.Errorf("%w: refused by the server: %s", eventlog.ErrInvalidEvent, s.Message())
	}
	return nil, fmt.Errorf("kurrent: append to %q: %w", stream, err)
}

// written reports freshly written events: the server tells the newest
// revision, the records' positions and times are read back.
func (l *Log) written(ctx context.Context, stream string, expected eventlog.ExpectedVersion, wr *esdb.WriteResult, evs []events.Event, dropped []bool, recordedAt []time.Time) (eventlog.AppendResult, error) {
	last := int64(wr.NextExpectedVersion)
	first := last - int64(len(evs)) + 1
	stored, err := l.readRange(ctx, stream, first, len(evs))
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	if !sameIDs(stored, evs) {
		// Not where the answer said (a server reporting an idempotent
		// write differently): find them.
		return l.afterConflict(ctx, stream, expected, evs)
	}
	if stored[0].Position.Commit == math.MaxUint64 {
		if err := l.positionsFromAll(ctx, wr, stored); err != nil {
			return eventlog.AppendResult{}, err
		}
	}
	out := make([]events.Recorded, len(evs))
	for i, e := range evs {
		// The caller keeps its slices; the result must not alias them.
		e.Data, e.PII = bytes.Clone(e.Data), bytes.Clone(e.PII)
		out[i] = events.Recorded{
			Event:         e,
			Stream:        stream,
			StreamVersion: int64(stored[i].EventNumber),
			Position:      events.Position{Commit: stored[i].Position.Commit, Prepare: stored[i].Position.Prepare},
			RecordedAt:    stored[i].CreatedDate,
			PIIErased:     dropped[i],
		}
		if recordedAt != nil {
			out[i].RecordedAt = recordedAt[i]
		}
		if dropped[i] {
			out[i].PII = nil
		}
	}
	return eventlog.AppendResult{Events: out, NextExpected: eventlog.ExpectVersion(last)}, nil
}

// afterConflict answers an append the server refused: when every event is
// already stored in the stream, in order and consecutively, it is an
// idempotent retry and the originals are returned; otherwise it is a
// conflict.
func (l *Log) afterConflict(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs []events.Event) (eventlog.AppendResult, error) {
	want := make(map[uuid.UUID]int, len(evs))
	for i, e := range evs {
		want[e.ID] = i
	}
	found := make([]*esdb.RecordedEvent, len(evs))
	n := 0
	current := int64(-1)
	err := l.readStream(ctx, stream, 0, func(ev *esdb.RecordedEvent) error {
		current = int64(ev.EventNumber)
		if i, ok := want[ev.EventID]; ok && found[i] == nil {
			found[i] = ev
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return eventlog.AppendResult{}, err
	}
	if n == len(evs) {
		ok := true
		for i := 1; i < len(found); i++ {
			ok = ok && found[i].EventNumber == found[0].EventNumber+uint64(i)
		}
		if ok {
			return l.originals(ctx, stream, found)
		}
	}
	return eventlog.AppendResult{}, &eventlog.ConflictError{Stream: stream, Expected: expected, Actual: current}
}

// originals reports already stored events as the result of an idempotent
// retry.
func (l *Log) originals(ctx context.Context, stream string, stored []*esdb.RecordedEvent) (eventlog.AppendResult, error) {
	out := make([]events.Recorded, len(stored))
	for i, ev := range stored {
		r, err := recorded(ctx, l.opts.Keyring, stream, ev)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		out[i] = r
	}
	return eventlog.AppendResult{Events: out, NextExpected: eventlog.ExpectVersion(out[len(out)-1].StreamVersion), Replayed: true}, nil
}

// tail returns the stream's newest n events, oldest first, and the
// stream's current revision (-1: no stream).
func (l *Log) tail(ctx context.Context, stream string, n int) ([]*esdb.RecordedEvent, int64, error) {
	var got []*esdb.RecordedEvent
	err := l.do(ctx, func(ctx context.Context, c *esdb.Client) error {
		got = got[:0]
		return readAllOf(c, ctx, l.serverStream(stream), esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, uint64(n), func(ev *esdb.RecordedEvent) {
			got = append(got, ev)
		})
	})
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, -1, nil
	}
	if err != nil {
		return nil, 0, l.readErr(ctx, stream, err)
	}
	if len(got) == 0 {
		return nil, -1, nil
	}
	current := int64(got[0].EventNumber)
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	return got, current, nil
}

func sameIDs(stored []*esdb.RecordedEvent, evs []events.Event) bool {
	if len(stored) != len(evs) {
		return false
	}
	for i, ev := range stored {
		if ev.EventID != evs[i].ID {
			return false
		}
	}
	return true
}

// validate refuses malformed appends before anything is sent: the port's
// rules, and no KurrentDB system streams.
func validate(stream string, expected eventlog.ExpectedVersion, evs []events.Event) error {
	if len(stream) > 0 && stream[0] == '$' {
		return fmt.Errorf("%w: stream %q is a KurrentDB system stream", eventlog.ErrInvalidEvent, stream)
	}
	return eventlog.ValidateAppend(stream, expected, evs)
}
