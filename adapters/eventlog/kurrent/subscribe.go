package kurrent

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	r, probe, err := l.acquire()
	if err != nil {
		return false, err
	}
	// Close ends the subscription as it ends every other use of the client.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		select {
		case <-l.done:
			if _, isStop := err.(stop); !isStop {
				err = eventlog.ErrClosed
			}
		default:
		}
	}()
	var start esdb.AllPosition = esdb.Start{}
	if !pos.IsZero() {
		// A subscription from a position starts strictly after it.
		start = esdb.Position{Commit: pos.Commit, Prepare: pos.Prepare}
	}
	var sub *esdb.Subscription
	opts := esdb.SubscribeToAllOptions{
		From: start,
		Filter: &esdb.SubscriptionFilter{
			Type:     esdb.StreamFilterType,
			Prefixes: l.filterPrefixes(),
		},
	}
	sub, err = l.startSubscription(ctx, cancel, r, probe, opts)
	if err != nil {
		if code(err) == esdb.ErrorCodeConnectionClosed {
			if rerr := l.renew(r); rerr != nil {
				return false, rerr
			}
		}
		return false, err
	}
	// The subscription uses r's client until it ends.
	defer l.release(r, false, false)
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

// startSubscription subscribes on r's client, waiting at most CallTimeout:
// starting one waits for a connection, which the client does not bound
// while it discovers the server. On success the caller keeps r (acquired
// by the caller) until the subscription ends; otherwise r is released
// here, or by the start still running when it was given up on (then r
// counts it as stuck, and cancel ends the subscription it may yet start).
func (l *Log) startSubscription(ctx context.Context, cancel context.CancelFunc, r *clientRef, probe bool, opts esdb.SubscribeToAllOptions) (*esdb.Subscription, error) {
	type result struct {
		sub *esdb.Subscription
		err error
	}
	var (
		mu                      sync.Mutex
		taken, abandoned, stuck bool
	)
	res := make(chan result, 1)
	go func() {
		sub, err := r.c.SubscribeToAll(ctx, opts)
		mu.Lock()
		if abandoned {
			counted := stuck
			mu.Unlock()
			if err == nil {
				sub.Close()
			}
			l.release(r, probe, counted)
			return
		}
		taken = true
		mu.Unlock()
		res <- result{sub, err}
	}()
	timer := time.NewTimer(l.opts.CallTimeout)
	defer timer.Stop()
	var x result
	timedOut := false
	select {
	case x = <-res:
	case <-ctx.Done():
	case <-timer.C:
		timedOut = true
	}
	if x.sub == nil && x.err == nil {
		mu.Lock()
		if !taken {
			abandoned = true
			// Only a start the server did not answer in time marks the
			// client stuck; a subscriber that went away says nothing
			// about the server.
			if timedOut {
				stuck = true
				l.mu.Lock()
				r.stuck++
				l.mu.Unlock()
			}
			mu.Unlock()
			cancel()
			if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w starting a subscription (%s)", eventlog.ErrUnavailable, errNoAnswer, l.opts.CallTimeout)
		}
		mu.Unlock()
		x = <-res
	}
	if x.err != nil {
		l.release(r, probe, false)
		return nil, x.err
	}
	if probe {
		l.mu.Lock()
		r.probing = false
		l.mu.Unlock()
	}
	return x.sub, nil
}
