package kurrent

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// readAllOf runs one read of a stream and hands every event to fn. A
// stream without events is eventlog.ErrStreamNotFound.
func readAllOf(c *esdb.Client, ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64, fn func(*esdb.RecordedEvent)) error {
	rs, err := c.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return err
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if code(err) == esdb.ErrorCodeResourceNotFound {
			return eventlog.ErrStreamNotFound
		}
		if err != nil {
			return err
		}
		fn(ev.OriginalEvent())
	}
}

// readErr wraps a read failure, preferring the caller's cancellation.
func (l *Log) readErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, eventlog.ErrStreamNotFound) || errors.Is(err, eventlog.ErrClosed) {
		return fmt.Errorf("%w: %q", err, what)
	}
	return fmt.Errorf("kurrent: read %s: %w", what, err)
}

// readStream pages through stream from revision from, handing each event
// to fn in order.
func (l *Log) readStream(ctx context.Context, stream string, from uint64, fn func(*esdb.RecordedEvent) error) error {
	page := uint64(l.opts.PageSize)
	for {
		var got []*esdb.RecordedEvent
		err := l.do(ctx, func(ctx context.Context, c *esdb.Client) error {
			got = got[:0]
			return readAllOf(c, ctx, l.serverStream(stream), esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(from)}, page, func(ev *esdb.RecordedEvent) {
				got = append(got, ev)
			})
		})
		if err != nil {
			return l.readErr(ctx, stream, err)
		}
		for _, ev := range got {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if uint64(len(got)) < page {
			return nil
		}
		from = got[len(got)-1].EventNumber + 1
	}
}

// readRange reads n events of stream from revision from.
func (l *Log) readRange(ctx context.Context, stream string, from int64, n int) ([]*esdb.RecordedEvent, error) {
	if from < 0 {
		return nil, nil
	}
	var got []*esdb.RecordedEvent
	err := l.do(ctx, func(ctx context.Context, c *esdb.Client) error {
		got = got[:0]
		return readAllOf(c, ctx, l.serverStream(stream), esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(uint64(from))}, uint64(n), func(ev *esdb.RecordedEvent) {
			got = append(got, ev)
		})
	})
	if err != nil {
		return nil, l.readErr(ctx, stream, err)
	}
	return got, nil
}

// ReadStream implements eventlog.EventLog.
func (l *Log) ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	if stream == "" {
		return nil, fmt.Errorf("%w: %q", eventlog.ErrStreamNotFound, stream)
	}
	var out []events.Recorded
	err := l.readStream(ctx, stream, uint64(max(from, 0)), func(ev *esdb.RecordedEvent) error {
		r, err := recorded(ctx, l.opts.Keyring, stream, ev)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func position(ev *esdb.RecordedEvent) events.Position {
	return events.Position{Commit: ev.Position.Commit, Prepare: ev.Position.Prepare}
}

// readAllRaw runs one read of $all and returns its records, system ones
// included, in read order.
func (l *Log) readAllRaw(ctx context.Context, dir esdb.Direction, from esdb.AllPosition, count uint64) ([]*esdb.RecordedEvent, error) {
	var got []*esdb.RecordedEvent
	err := l.do(ctx, func(ctx context.Context, c *esdb.Client) error {
		got = got[:0]
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: dir, From: from}, count)
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			got = append(got, ev.OriginalEvent())
		}
	})
	if err != nil {
		return nil, l.readErr(ctx, "$all", err)
	}
	return got, nil
}

// allPage reads up to count records of $all in direction dir from the
// cursor: forwards strictly after it, backwards strictly before it, from
// the start or end when there is no cursor.
func (l *Log) allPage(ctx context.Context, dir esdb.Direction, cursor *events.Position, count int) ([]*esdb.RecordedEvent, error) {
	var from esdb.AllPosition = esdb.Start{}
	if dir == esdb.Backwards {
		from = esdb.End{}
	}
	ask := uint64(count)
	if cursor != nil {
		from = esdb.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
		// A read from a position may include the event at it: ask for one
		// more and drop it below.
		ask++
	}
	got, err := l.readAllRaw(ctx, dir, from, ask)
	if err != nil || cursor == nil {
		return got, err
	}
	kept := got[:0]
	for _, ev := range got {
		p := position(ev)
		if (dir == esdb.Forwards && cursor.Less(p)) || (dir == esdb.Backwards && p.Less(*cursor)) {
			kept = append(kept, ev)
		}
	}
	return kept, nil
}

// positionsFromAll fills in the $all positions of an append's records
// when the server's stream reads lack them (servers before 22.6 send the
// maximum uint64): one append's events are consecutive in $all and end at
// the position the append answered with.
func (l *Log) positionsFromAll(ctx context.Context, wr *esdb.WriteResult, stored []*esdb.RecordedEvent) error {
	last := esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}
	lastPos := events.Position{Commit: last.Commit, Prepare: last.Prepare}
	n := len(stored)
	fwd, err := l.readAllRaw(ctx, esdb.Forwards, last, 1)
	if err != nil {
		return err
	}
	chain := fwd
	if n > 1 {
		back, err := l.readAllRaw(ctx, esdb.Backwards, last, uint64(n))
		if err != nil {
			return err
		}
		var before []*esdb.RecordedEvent
		for _, ev := range back {
			if position(ev).Less(lastPos) && len(before) < n-1 {
				before = append(before, ev)
			}
		}
		for i, j := 0, len(before)-1; i < j; i, j = i+1, j-1 {
			before[i], before[j] = before[j], before[i]
		}
		chain = append(before, fwd...)
	}
	if len(chain) != n {
		return fmt.Errorf("kurrent: locate appended events in $all: found %d of %d", len(chain), n)
	}
	for i, ev := range chain {
		if ev.EventID != stored[i].EventID {
			return fmt.Errorf("kurrent: locate appended events in $all: event %s is not where the append ended", stored[i].EventID)
		}
		stored[i].Position = ev.Position
	}
	return nil
}

// ReadAll implements eventlog.EventLog: up to limit (default 1,000)
// custody events strictly after from, in $all order. KurrentDB's $all is
// written by one leader in order, so every event returned is final: no
// later commit can land before it.
func (l *Log) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	if limit <= 0 {
		limit = 1000
	}
	var cursor *events.Position
	if !from.IsZero() {
		cursor = &from
	}
	var out []events.Recorded
	for len(out) < limit {
		// Small limits read small pages; foreign records skipped below
		// only cost another round.
		ask := min(l.opts.PageSize, limit-len(out))
		page, err := l.allPage(ctx, esdb.Forwards, cursor, ask)
		if err != nil {
			return nil, err
		}
		for _, ev := range page {
			p := position(ev)
			cursor = &p
			stream, ok := l.custodyStream(ev.StreamID)
			if !ok {
				continue
			}
			r, err := recorded(ctx, l.opts.Keyring, stream, ev)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
		if len(page) < ask {
			break
		}
	}
	return out, nil
}

// Head implements eventlog.EventLog: the $all position of the newest
// custody event, events.Start when there is none.
func (l *Log) Head(ctx context.Context) (events.Position, error) {
	var cursor *events.Position
	for {
		page, err := l.allPage(ctx, esdb.Backwards, cursor, l.opts.PageSize)
		if err != nil {
			return events.Start, err
		}
		for _, ev := range page {
			if _, ok := l.custodyStream(ev.StreamID); ok {
				return position(ev), nil
			}
			p := position(ev)
			cursor = &p
		}
		if len(page) < l.opts.PageSize {
			return events.Start, nil
		}
	}
}
