package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody/custody/events"
)

// Subscribe implements eventlog.EventLog: pages of Options.PageSize until
// caught up, then a new page whenever woken (local append, NOTIFY, or the
// poll interval). See the package doc for why no event is ever skipped.
//
// A reader goroutine fetches the next page while handle works through the
// current one. Pages grow while catching up, to 10 × PageSize events, and
// at most three exist at a time: memory is bounded by the page size,
// whatever the length of the log.
// Each page is read completely before handle sees it, so a slow handler
// (one that writes to the same pool, say) never holds a connection: many
// subscribers cannot starve or deadlock the pool.
func (s *Store) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan []events.Recorded, 1)
	// Handled pages go back to the reader for reuse: a long catch-up then
	// allocates no page buffers at all.
	free := make(chan []events.Recorded, 2)
	readErr := make(chan error, 1)
	go func() {
		err := s.follow(rctx, from, pages, free)
		close(pages)
		readErr <- err
	}()
	for page := range pages {
		for i := range page {
			if err := handle(page[i]); err != nil {
				cancel()
				for range pages {
				}
				<-readErr
				return err
			}
			page[i] = events.Recorded{} // let the handled event go
		}
		select {
		case free <- page[:0]:
		default:
		}
	}
	err := <-readErr
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// catchUpGrowth bounds how far a catching-up subscription grows its pages:
// up to this many times Options.PageSize events per query.
const catchUpGrowth = 10

// maxBackoff bounds the pause between retries of a subscription whose
// reads fail.
const maxBackoff = 5 * time.Second

// transient reports whether a read error may go away by itself (a lost
// connection, a restarting server) rather than needing a person (a missing
// table, a row that does not decode, personal data that cannot be opened).
func transient(err error) bool {
	var (
		pgErr   *pgconn.PgError
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &pgErr):
		// Class 08 (connection exception), 57P (operator intervention:
		// shutdown, restart) and 53 (insufficient resources) pass.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "53")
	case errors.As(err, &connErr), errors.As(err, &netErr):
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// follow sends pages of events after from until ctx is done.
func (s *Store) follow(ctx context.Context, from events.Position, pages chan<- []events.Recorded, free <-chan []events.Recorded) error {
	pos := from
	sc := new(scanner)
	limit := s.opts.PageSize
	backoff := s.opts.PollInterval
	listening := false
	defer func() {
		if listening {
			s.unlisten()
		}
	}()
	poll := time.NewTimer(s.opts.PollInterval)
	defer poll.Stop()
	// spare is a page a read left empty, for the next read: a caught-up
	// subscription reads many empty pages, and allocating (and clearing)
	// PageSize events for each was a tenth of custody's CPU under load.
	var spare []events.Recorded
	// woken: the subscription was caught up, waited on the wake channel
	// of generation waited, and that channel was closed (see readTail).
	var (
		woken  bool
		waited uint64
	)
	for {
		page := spare
		spare = nil
		if page == nil {
			select {
			case page = <-free:
			default:
				page = make([]events.Recorded, 0, s.opts.PageSize)
			}
		}
		var (
			wake <-chan struct{}
			gen  uint64
			full bool
			err  error
		)
		if woken {
			// Caught up and woken: the other caught-up subscriptions of
			// this Store were woken too, and one read serves them all.
			page, wake, gen, full, err = s.readTail(ctx, sc, pos, waited, page)
		} else {
			// Take the wake channel before reading, so a wake-up that
			// comes after the read is never lost.
			wake, gen = s.wakeChan()
			err = s.page(ctx, sc, pos, limit, func(r events.Recorded) error {
				page = append(page, r)
				return nil
			})
			full = len(page) == limit
		}
		switch {
		case err == nil:
			backoff = s.opts.PollInterval
		case ctx.Err() != nil:
			return ctx.Err()
		case !transient(err):
			return err
		default:
			// The position is kept, so retrying never delivers twice.
			s.opts.Logger.Warn("pgstore: subscription cannot read the log; retrying", "err", err, "after", pos.String(), "retry_in", backoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			woken = false
			continue
		}
		woken = false
		if len(page) == 0 {
			spare = page
		} else {
			pos = page[len(page)-1].Position
			select {
			case pages <- page:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if full {
			// Catching up: bigger pages mean fewer round trips, each of
			// which costs two process wake-ups on a busy machine.
			limit = min(2*limit, catchUpGrowth*s.opts.PageSize)
			continue
		}
		limit = s.opts.PageSize
		if !listening {
			// Caught up: from now on wake-ups matter. The shared listener
			// may only just be starting, so read once more before waiting.
			s.listen()
			listening = true
			continue
		}
		poll.Reset(s.opts.PollInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-poll.C:
			// A notification may have come while an older transaction
			// held the xmin bound back, and nothing else will wake us
			// when it ends: look again, waking the other subscriptions
			// too, so that they share the read.
			s.broadcast()
		}
		woken, waited = true, gen
	}
}

// tailRead is one read of the log after from, up to Options.PageSize
// events, that the Store's caught-up subscriptions share (see readTail).
type tailRead struct {
	from events.Position
	// wake and gen are the wake channel taken before the query and its
	// generation: every event the read cannot see closes wake.
	wake <-chan struct{}
	gen  uint64
	done chan struct{} // closed when recs and err are set
	recs []events.Recorded
	err  error
}

// readTail appends to page the events after pos for a subscription that
// was caught up and woken from the wake channel of generation waited. A
// projector, a relay and a slot keeper of one process follow the same
// log, all woken by the same commits: rather than each reading (and
// opening the personal data of) the same new events, they share one read.
//
// The read used is the Store's latest one (the Store's tail) when it
// started after the subscription's wake channel closed (its generation is
// higher) and from no later than pos: it then saw every event the wake-up
// announced, and its events after pos are what a read of the subscription
// alone would have returned. Otherwise the subscription reads alone, from
// pos, and that read becomes the tail others may share. A subscription
// that fell behind the others (its pos before the tail's start) thus reads
// for itself, and none ever waits for another's handling: only, at most,
// for a query under way.
//
// It returns the wake channel of the read used, and whether the read was
// full (more may follow at once).
func (s *Store) readTail(ctx context.Context, sc *scanner, pos events.Position, waited uint64, page []events.Recorded) (_ []events.Recorded, wake <-chan struct{}, gen uint64, full bool, _ error) {
	s.tailMu.Lock()
	t := s.tail
	if t != nil && t.gen > waited && !pos.Less(t.from) {
		s.tailMu.Unlock()
		select {
		case <-t.done:
		case <-ctx.Done():
			return page, nil, 0, false, ctx.Err()
		}
		if t.err == nil {
			i := sort.Search(len(t.recs), func(i int) bool { return pos.Less(t.recs[i].Position) })
			return append(page, t.recs[i:]...), t.wake, t.gen, len(t.recs) == s.opts.PageSize, nil
		}
		// The read failed, perhaps only for the subscription that ran it
		// (its context ended): read alone.
		wake, gen = s.wakeChan()
		err := s.page(ctx, sc, pos, s.opts.PageSize, func(r events.Recorded) error {
			page = append(page, r)
			return nil
		})
		return page, wake, gen, len(page) == s.opts.PageSize, err
	}
	t = &tailRead{from: pos, done: make(chan struct{})}
	t.wake, t.gen = s.wakeChan()
	s.tail = t
	s.tailMu.Unlock()
	t.err = s.page(ctx, sc, pos, s.opts.PageSize, func(r events.Recorded) error {
		t.recs = append(t.recs, r)
		return nil
	})
	close(t.done)
	if t.err != nil {
		return page, nil, 0, false, t.err
	}
	return append(page, t.recs...), t.wake, t.gen, len(t.recs) == s.opts.PageSize, nil
}

// listen registers a live subscriber, starting the shared LISTEN
// connection for the first one.
func (s *Store) listen() {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	s.listeners++
	if s.listeners > 1 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopListener, s.listenerDone = cancel, done
	go func() {
		defer close(done)
		s.runListener(ctx)
	}()
}

// unlisten deregisters a live subscriber, stopping the shared connection
// after the last one.
func (s *Store) unlisten() {
	s.listenMu.Lock()
	s.listeners--
	if s.listeners > 0 {
		s.listenMu.Unlock()
		return
	}
	stop, done := s.stopListener, s.listenerDone
	s.stopListener, s.listenerDone = nil, nil
	s.listenMu.Unlock()
	// No subscription left to share the last tail read: let its events go.
	s.tailMu.Lock()
	s.tail = nil
	s.tailMu.Unlock()
	stop()
	<-done
}

// runListener holds a connection of its own (outside the pool, so live
// subscribers never starve writers) that LISTENs and turns every
// notification into a broadcast. When the connection fails it retries;
// subscribers keep polling meanwhile.
func (s *Store) runListener(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.opts.Logger.Warn("pgstore: listen for new events failed; polling until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.PollInterval):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return err
	}
	// Events committed while the listener was starting were announced to
	// nobody.
	s.broadcast()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.broadcast()
	}
}
