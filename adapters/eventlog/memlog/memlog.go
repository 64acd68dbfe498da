// Package memlog is an in-memory eventlog.EventLog for tests and
// experiments: fast, with the same semantics as the PostgreSQL log
// (expected versions, idempotent event ids, all-or-nothing appends, sealed
// personal data and erasure) and nothing persisted.
//
// Positions are 1-based sequence numbers: the n-th event ever appended has
// Position{Commit: n, Prepare: n}. Every append is visible to readers the
// moment Append returns, so ReadAll and Subscribe never wait for anything.
package memlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

var (
	_ eventlog.EventLog = (*Log)(nil)
	_ eventlog.Eraser   = (*Log)(nil)
)

// subscribeBatch bounds how many events a subscriber copies per lock.
const subscribeBatch = 256

// Option configures a Log.
type Option func(*Log)

// WithKeyring seals personal data with k instead of a private in-memory
// keyring; useful to share erasures with another component.
func WithKeyring(k *pii.Keyring) Option { return func(l *Log) { l.keyring = k } }

// WithClock sets where RecordedAt comes from (default time.Now).
func WithClock(now func() time.Time) Option { return func(l *Log) { l.now = now } }

// Log is an in-memory event log. The zero value is not usable; call New.
// Safe for concurrent use.
type Log struct {
	keyring *pii.Keyring
	now     func() time.Time

	mu      sync.RWMutex
	all     []stored         // all[i] has sequence number i+1
	streams map[string][]int // stream -> indexes into all, in stream order
	ids     map[uuid.UUID]int
	// changed is closed (and replaced) by every append, waking subscribers.
	changed chan struct{}
	// snapshots are eventlog.Snapshots by stream.
	snapshots map[string]snapshot
	// id is the log's eventlog.Identity id.
	id uuid.UUID
}

// stored is an event as kept: Event.PII is empty and the sealed form sits
// beside it, exactly like a durable log stores it.
type stored struct {
	rec    events.Recorded
	sealed []byte // nil: no personal data; empty: dropped (subject erased)
}

// New returns an empty log.
func New(opts ...Option) *Log {
	l := &Log{
		now:     time.Now,
		streams: map[string][]int{},
		ids:     map[uuid.UUID]int{},
		changed: make(chan struct{}),
		id:      uuid.New(),
	}
	for _, o := range opts {
		o(l)
	}
	if l.keyring == nil {
		l.keyring = pii.NewMemoryKeyring()
	}
	return l
}

// Identity implements eventlog.Identifier: each Log is a log of its own.
func (l *Log) Identity(context.Context) (eventlog.Identity, error) {
	return eventlog.Identity{Kind: "memory", ID: l.id.String()}, nil
}

// Append implements eventlog.EventLog.
func (l *Log) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	return l.appendAt(ctx, stream, expected, nil, evs)
}

var _ eventlog.Copier = (*Log)(nil)

// AppendCopied implements eventlog.Copier.
func (l *Log) AppendCopied(ctx context.Context, stream string, expected eventlog.ExpectedVersion, recordedAt []time.Time, evs ...events.Event) (eventlog.AppendResult, error) {
	if len(recordedAt) != len(evs) {
		return eventlog.AppendResult{}, fmt.Errorf("%w: %d recording times for %d events", eventlog.ErrInvalidEvent, len(recordedAt), len(evs))
	}
	return l.appendAt(ctx, stream, expected, recordedAt, evs)
}

// appendAt is Append with the events' recording times given (nil: now).
func (l *Log) appendAt(ctx context.Context, stream string, expected eventlog.ExpectedVersion, recordedAt []time.Time, evs []events.Event) (eventlog.AppendResult, error) {
	if err := eventlog.ValidateAppend(stream, expected, evs); err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventlog.AppendResult{}, err
	}
	// Seal outside the lock: it may create keys.
	sealed := make([][]byte, len(evs))
	for i, e := range evs {
		if len(e.PII) == 0 {
			continue
		}
		s, err := l.keyring.Seal(ctx, e.Subject, e.PII)
		switch {
		case errors.Is(err, pii.ErrErased):
			s = []byte{}
		case err != nil:
			return eventlog.AppendResult{}, fmt.Errorf("memlog: seal personal data: %w", err)
		}
		sealed[i] = s
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	idxs := l.streams[stream]
	current := int64(len(idxs)) - 1

	if res, done, err := l.replayed(ctx, stream, current, expected, evs); done {
		return res, err
	}
	ok := false
	switch expected {
	case eventlog.ExpectAny:
		ok = true
	case eventlog.ExpectNoStream:
		ok = current == -1
	case eventlog.ExpectStreamExists:
		ok = current >= 0
	default:
		ok = current == int64(expected)
	}
	if !ok {
		return eventlog.AppendResult{}, &eventlog.ConflictError{Stream: stream, Expected: expected, Actual: current}
	}

	now := l.now()
	out := make([]events.Recorded, len(evs))
	for i, e := range evs {
		seq := uint64(len(l.all)) + 1
		e.Data = bytes.Clone(e.Data)
		e.PII = nil
		rec := events.Recorded{
			Event:         e,
			Stream:        stream,
			StreamVersion: current + 1 + int64(i),
			Position:      events.Position{Commit: seq, Prepare: seq},
			RecordedAt:    now,
		}
		if recordedAt != nil {
			rec.RecordedAt = recordedAt[i]
		}
		l.all = append(l.all, stored{rec: rec, sealed: sealed[i]})
		l.streams[stream] = append(l.streams[stream], len(l.all)-1)
		l.ids[e.ID] = len(l.all) - 1
		// The result shares the caller's slices, never the stored ones.
		out[i] = rec
		out[i].Event.Data = evs[i].Data
		out[i].Event.PII = evs[i].PII
		if sealed[i] != nil && len(sealed[i]) == 0 {
			out[i].Event.PII, out[i].PIIErased = nil, true
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return eventlog.AppendResult{Events: out, NextExpected: eventlog.ExpectVersion(current + int64(len(evs)))}, nil
}

// replayed handles appends whose ids are already stored: done reports that
// the call is answered (originals returned, or a conflict when only some
// ids, or ids elsewhere, are stored). Called with l.mu held.
func (l *Log) replayed(ctx context.Context, stream string, current int64, expected eventlog.ExpectedVersion, evs []events.Event) (eventlog.AppendResult, bool, error) {
	found := 0
	for _, e := range evs {
		if _, ok := l.ids[e.ID]; ok {
			found++
		}
	}
	if found == 0 {
		return eventlog.AppendResult{}, false, nil
	}
	conflict := &eventlog.ConflictError{Stream: stream, Expected: expected, Actual: current}
	if found != len(evs) {
		return eventlog.AppendResult{}, true, conflict
	}
	first := l.ids[evs[0].ID]
	if l.all[first].rec.Stream != stream {
		return eventlog.AppendResult{}, true, conflict
	}
	v0 := l.all[first].rec.StreamVersion
	out := make([]events.Recorded, len(evs))
	for i, e := range evs {
		at := l.ids[e.ID]
		r := l.all[at].rec
		if r.Stream != stream || r.StreamVersion != v0+int64(i) {
			return eventlog.AppendResult{}, true, conflict
		}
		rec, err := l.open(ctx, l.all[at])
		if err != nil {
			return eventlog.AppendResult{}, true, err
		}
		out[i] = rec
	}
	return eventlog.AppendResult{Events: out, NextExpected: eventlog.ExpectVersion(out[len(out)-1].StreamVersion), Replayed: true}, true, nil
}

// ReadStream implements eventlog.EventLog.
func (l *Log) ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	idxs := l.streams[stream]
	if len(idxs) == 0 {
		l.mu.RUnlock()
		return nil, fmt.Errorf("%w: %q", eventlog.ErrStreamNotFound, stream)
	}
	from = max(from, 0)
	var picked []stored
	if from < int64(len(idxs)) {
		picked = make([]stored, 0, int64(len(idxs))-from)
		for _, i := range idxs[from:] {
			picked = append(picked, l.all[i])
		}
	}
	l.mu.RUnlock()
	return l.openAll(ctx, picked)
}

// ReadAll implements eventlog.EventLog. A limit <= 0 reads up to 1,000.
func (l *Log) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1000
	}
	picked, _ := l.after(from, limit)
	return l.openAll(ctx, picked)
}

// Subscribe implements eventlog.EventLog.
func (l *Log) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	pos := from
	for {
		picked, changed := l.after(pos, subscribeBatch)
		for _, s := range picked {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := l.open(ctx, s)
			if err != nil {
				return err
			}
			if err := handle(rec); err != nil {
				return err
			}
			pos = rec.Position
		}
		if len(picked) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Head implements eventlog.EventLog.
func (l *Log) Head(ctx context.Context) (events.Position, error) {
	if err := ctx.Err(); err != nil {
		return events.Start, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.all) == 0 {
		return events.Start, nil
	}
	return l.all[len(l.all)-1].rec.Position, nil
}

// Erase implements eventlog.Eraser: the subject's key is destroyed, its
// events read back with PIIErased and no personal data.
func (l *Log) Erase(ctx context.Context, subject string) error {
	if err := l.keyring.Erase(ctx, subject); err != nil {
		return fmt.Errorf("memlog: %w", err)
	}
	return nil
}

// after returns up to limit events strictly after from, and the channel
// the next append closes.
func (l *Log) after(from events.Position, limit int) ([]stored, <-chan struct{}) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.all), func(i int) bool { return from.Less(l.all[i].rec.Position) })
	n := min(limit, len(l.all)-i)
	return append([]stored(nil), l.all[i:i+n]...), l.changed
}

func (l *Log) openAll(ctx context.Context, ss []stored) ([]events.Recorded, error) {
	out := make([]events.Recorded, len(ss))
	for i, s := range ss {
		r, err := l.open(ctx, s)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// open returns a copy of s with its personal data unsealed, or marked
// erased when its subject's key is gone.
func (l *Log) open(ctx context.Context, s stored) (events.Recorded, error) {
	r := s.rec
	r.Data = bytes.Clone(r.Data)
	switch {
	case s.sealed == nil:
	case len(s.sealed) == 0:
		r.PIIErased = true
	default:
		plain, err := l.keyring.Open(ctx, r.Subject, s.sealed)
		switch {
		case errors.Is(err, pii.ErrErased):
			r.PIIErased = true
		case err != nil:
			return events.Recorded{}, fmt.Errorf("memlog: open personal data of event %s: %w", r.ID, err)
		default:
			r.PII = plain
		}
	}
	return r, nil
}
