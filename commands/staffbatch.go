package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// A member's stream takes every slot reservation and release of the
// member: with many customers added to one member at once, one append per
// decision at the stream's exact version makes the member a queue of
// round trips, and, across processes, of conflicts. So the decisions that
// wait for a member in this process are taken together: the first to
// arrive leads a batch (up to Handler.staffBatch of them, in arrival
// order), decides each on a fork of the member that already holds the
// decisions before it (capacity is counted exactly, decision by decision),
// and appends all their events in one append at the version they were
// decided on. A conflict decides the whole batch again on the stream
// re-read; a decision refused (an error) leaves the others to be carried
// out. When the batch is done the leader hands the lead to the first
// decision that arrived meanwhile, so every goroutine leads at most one
// batch.

// staffDecision is one command's decision on a member's stream.
type staffDecision struct {
	ctx    context.Context
	r      *run
	decide func(*staff.Staff) ([]events.Payload, error)
	key    func(events.Payload) string

	// the outcome, set by the batch that carried the decision out
	recs []events.Recorded
	err  error
	n    int // events of the current attempt
	// replayed: recs were found stored by an earlier writer, not
	// appended on this decision
	replayed bool

	// wake is signalled once the decision was carried out (done) or, for
	// a decision that waits first in line, when its goroutine leads next.
	wake chan struct{}
	done bool
}

// enqueue lines d up for the entry's member and reports whether d's
// goroutine leads the next batch (no batch was being led).
func (e *staffEntry) enqueue(d *staffDecision) bool {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	e.queue = append(e.queue, d)
	if e.leading {
		return false
	}
	e.leading = true
	return true
}

// leadStaffBatch carries out the decisions first in line for the member,
// then hands the lead to the next one waiting, if any.
func (h *Handler) leadStaffBatch(e *staffEntry, corpID, id string) {
	e.qmu.Lock()
	n := min(len(e.queue), h.staffBatch)
	batch := slices.Clone(e.queue[:n])
	e.queue = slices.Delete(e.queue, 0, n)
	e.qmu.Unlock()

	h.decideStaffBatch(e, corpID, id, batch)

	e.qmu.Lock()
	var next *staffDecision
	if len(e.queue) > 0 {
		next = e.queue[0]
	} else {
		e.leading = false
	}
	e.qmu.Unlock()
	for _, d := range batch {
		d.done = true
		d.wake <- struct{}{}
	}
	if next != nil {
		next.wake <- struct{}{}
	}
}

// decideStaffBatch decides batch on the member's stream and appends the
// events decided, as one append at the exact version decided on.
//
// The first attempt decides on the aggregate this Handler holds, without
// reading the stream: its append succeeding shows the aggregate was
// current. An attempt that refuses a decision or appends nothing reads
// the events appended since instead, and decides again only when there
// were some. A conflict reads them and decides again, up to
// Handler.maxRetries times.
func (h *Handler) decideStaffBatch(e *staffEntry, corpID, id string, batch []*staffDecision) {
	live := make([]*staffDecision, 0, len(batch))
	for _, d := range batch {
		if err := d.ctx.Err(); err != nil {
			d.err = err
			continue
		}
		live = append(live, d)
	}
	if len(live) == 0 {
		return
	}
	ctx, stop := batchContext(live)
	defer stop()
	stream := events.StaffStream(corpID, id)

	e.mu.Lock()
	defer e.mu.Unlock()
	fail := func(err error) {
		for _, d := range live {
			d.recs, d.err = nil, err
		}
	}
	speculative := e.s != nil
	if !speculative {
		if err := h.catchUpStaff(ctx, e, id, stream, true); err != nil {
			fail(err)
			return
		}
	}
	for attempt := 0; ; attempt++ {
		evs, pays, refused := decideEach(stream, e.s, live)
		if speculative && (refused || len(evs) == 0) {
			// Decided on the cached aggregate, and no append will show
			// that it was current: read what was appended since; when
			// nothing was, the decisions stand.
			speculative = false
			v := e.s.Version()
			if err := h.catchUpStaff(ctx, e, id, stream, true); err != nil {
				fail(err)
				return
			}
			if e.s.Version() != v {
				continue
			}
		}
		if len(evs) == 0 {
			h.dropIfStale(e, stream, live)
			return
		}
		expected := eventlog.ExpectVersion(e.s.Version())
		if e.s.Version() < 0 {
			expected = eventlog.ExpectNoStream
		}
		res, err := h.log.Append(ctx, stream, expected, evs...)
		if errors.Is(err, eventlog.ErrConflict) && (speculative || attempt < h.maxRetries) {
			speculative = false
			if err := h.catchUpStaff(ctx, e, id, stream, true); err != nil {
				fail(err)
				return
			}
			continue
		}
		if err != nil {
			decidedFail(live, fmt.Errorf("commands: append to %s: %w", stream, err))
			return
		}
		if err := e.s.Replay(decided(res, pays)...); err != nil {
			e.s = nil
			decidedFail(live, &StreamError{Stream: stream, Err: err})
			return
		}
		off := 0
		for _, d := range live {
			d.recs, d.replayed = res.Events[off:off+d.n], res.Replayed
			off += d.n
		}
		h.dropIfStale(e, stream, live)
		h.snapshot(e, stream)
		return
	}
}

// decideEach decides every decision in turn on a fork of s that holds the
// events of the decisions before it, and returns the events to append;
// refused reports that a decision answered an error.
func decideEach(stream string, s *staff.Staff, ds []*staffDecision) (evs []events.Event, pays []events.Payload, refused bool) {
	f := s.Fork()
	for _, d := range ds {
		d.recs, d.err, d.n = nil, nil, 0
		mine, err := d.decide(f)
		if err == nil && len(mine) > 0 {
			var made []events.Event
			if made, err = tentative(stream, f, d, mine); err == nil {
				evs, pays = append(evs, made...), append(pays, mine...)
				d.n = len(made)
			}
		}
		if err != nil {
			d.err, refused = err, true
		}
	}
	return evs, pays, refused
}

// tentative encodes d's decision as the events to append after f's
// version and replays them on f.
func tentative(stream string, f *staff.Staff, d *staffDecision, pays []events.Payload) ([]events.Event, error) {
	ar := d.r
	if d.key != nil {
		ar = d.r.withKey(d.key(pays[0]))
	}
	version := f.Version()
	evs := make([]events.Event, len(pays))
	recs := make([]events.Recorded, len(pays))
	for i, p := range pays {
		id, err := ar.eventID(stream, version, i)
		if err != nil {
			return nil, fmt.Errorf("commands: event id: %w", err)
		}
		if evs[i], err = events.New(id, ar.meta, p); err != nil {
			return nil, fmt.Errorf("commands: encode %s: %w", p.EventType(), err)
		}
		recs[i] = events.Decided(events.Recorded{Event: evs[i], Stream: stream, StreamVersion: version + 1 + int64(i)}, p)
	}
	if err := f.Replay(recs...); err != nil {
		return nil, &StreamError{Stream: stream, Err: err}
	}
	return evs, nil
}

// decidedFail gives err to every decision that had events to append.
func decidedFail(ds []*staffDecision, err error) {
	for _, d := range ds {
		if d.n > 0 {
			d.recs, d.err = nil, err
		}
	}
}

// dropIfStale forgets the member's aggregate when a decision found the
// member's stream unreadable, so that the next one loads it again.
func (h *Handler) dropIfStale(e *staffEntry, stream string, ds []*staffDecision) {
	for _, d := range ds {
		var se *StreamError
		if errors.As(d.err, &se) && se.Stream == stream {
			e.s = nil
			return
		}
	}
}

// catchUpStaff makes e's aggregate current: it loads the member (from its
// snapshot) when the entry holds none and, when it did or when read is
// set, applies the events appended since. Called with e.mu held.
func (h *Handler) catchUpStaff(ctx context.Context, e *staffEntry, id, stream string, read bool) error {
	if e.s == nil {
		s, base, size, at, err := h.loadStaff(ctx, id, stream)
		if err != nil {
			return err
		}
		e.s, e.baseAt, e.snapSize, e.snapAt, read = s, base, size, at, true
	}
	if !read {
		return nil
	}
	recs, err := h.log.ReadStream(ctx, stream, e.s.Version()+1)
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("commands: read %s: %w", stream, err)
	}
	if err := e.s.Replay(recs...); err != nil {
		e.s = nil
		return &StreamError{Stream: stream, Err: err}
	}
	return nil
}

// batchContext is the context of a batch's reads and appends: it keeps the
// values of the first decision's context and ends when every decision's
// context has ended, so that one caller going away does not fail the
// others' decisions.
func batchContext(ds []*staffDecision) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ds[0].ctx))
	var waiting atomic.Int64
	waiting.Store(int64(len(ds)))
	stops := make([]func() bool, len(ds))
	for i, d := range ds {
		stops[i] = context.AfterFunc(d.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
