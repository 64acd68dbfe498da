package kurrent

import (
	"context"
	"errors"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Subscribe implements eventlog.EventLog with a catch-up subscription to
// $all filtered (on the server) to custody's stream prefixes. The server
// sends the stored events after from, then live ones, in $all order; $all
// is written in order by one leader, so nothing committed later can appear
// before a delivered position.
//
// The client never resubscribes by itself: when the server drops the
// subscription (restart, leader change, network), Subscribe subscribes
// again strictly after the last delivered position, waiting
// ResubscribeMin, doubling up to ResubscribeMax while it keeps failing.
// Events are therefore delivered exactly once and in order across drops.
func (l *Log) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	pos := from
	wait := l.opts.ResubscribeMin
	for {
		delivered, err := l.subscribeOnce(ctx, &pos, handle)
		var st stop
		if errors.As(err, &st) {
			return st.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventlog.ErrClosed) {
			return err
		}
		if delivered {
			wait = l.opts.ResubscribeMin
		}
		l.opts.Logger.Warn("kurrent: subscription dropped; resubscribing", "after", pos.String(), "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, l.opts.ResubscribeMax)
	}
}

// stop ends Subscribe with err instead of resubscribing: the
// subscriber's own error, or an event that cannot be decoded (trying again
// would meet it again).
type stop struct{ err error }

func (e stop) Error() string { return e.err.Error() }

// subscribeOnce runs one server subscription from *pos until it drops,
// advancing *pos past every event handled. delivered reports whether any
// event got through (to reset the resubscribe back-off).
func (l *Log) subscribeOnce(ctx context.Context, pos *events.Position, handle func(events.Recorded) error) (delivered bool, err error) {
	c, err := l.conn()
	if err != nil {
		return false, err
	}
	var start esdb.AllPosition = esdb.Start{}
	if !pos.IsZero() {
		// A subscription from a position starts strictly after it.
		start = esdb.Position{Commit: pos.Commit, Prepare: pos.Prepare}
	}
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From: start,
		Filter: &esdb.SubscriptionFilter{
			Type:     esdb.StreamFilterType,
			Prefixes: l.filterPrefixes(),
		},
	})
	if err != nil {
		if code(err) == esdb.ErrorCodeConnectionClosed {
			if rerr := l.renew(c); rerr != nil {
				return false, rerr
			}
		}
		return false, err
	}
	defer sub.Close()
	for {
		se := sub.Recv()
		switch {
		case se.SubscriptionDropped != nil:
			return delivered, se.SubscriptionDropped.Error
		case se.EventAppeared != nil:
			ev := se.EventAppeared.OriginalEvent()
			p := position(ev)
			// The filter runs on the server; check again so that a server
			// (or stand-in) sending more never leaks foreign events, and
			// never hand over a position twice.
			stream, ok := l.custodyStream(ev.StreamID)
			if !ok || (!pos.IsZero() && !pos.Less(p)) {
				continue
			}
			r, err := recorded(ctx, l.opts.Keyring, stream, ev)
			if err != nil {
				return delivered, stop{err}
			}
			if err := handle(r); err != nil {
				return delivered, stop{err}
			}
			*pos = p
			delivered = true
		}
		// Checkpoints, caught-up and fell-behind notices need no action:
		// the position to resume from is the last event handled.
	}
}
