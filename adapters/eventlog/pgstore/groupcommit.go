package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody/custody/events"
)

// maxGroup bounds how many appends share one group commit.
const maxGroup = 128

// errAlone: the group commit an append was part of failed on a statement
// (its own or another's) and was rolled back as a whole; the append is to
// be run again on its own.
var errAlone = errors.New("pgstore: group commit rolled back, append alone")

// pendingAppend is one Append waiting for a group commit.
type pendingAppend struct {
	ctx  context.Context
	args []any
	evs  []events.Event
	out  []events.Recorded
	err  error
	// grouped: out was committed by a group, which woke the subscribers.
	grouped bool
	done    chan struct{}
}

// committer groups the first attempts of concurrent Appends: while
// Options.GroupCommits groups are in flight, further appends queue, and
// the next free flush takes the whole queue (up to maxGroup) as one
// pipelined round trip in one implicit transaction, one commit for all.
//
// Each append keeps its own statement and so its own expected-version
// check: a mismatch inserts none of its rows (it is then resolved alone,
// after the commit, as before), and the group's other appends are
// unaffected. A statement that fails (another writer took a version
// first, a stored event id, bad data) aborts the whole transaction:
// nothing of the group is stored, and every append of it runs again
// alone on the plain path, which then decides each one's fate exactly as
// without grouping. A lost connection fails every append of the group
// with its error, ambiguous as for an append alone (committed or not);
// retried with the same event ids, an append is idempotent.
type committer struct {
	s        *Store
	mu       sync.Mutex
	queue    []*pendingAppend
	inFlight int
	max      int
}

// insertGrouped is insert through the committer. woken reports that the
// subscribers were woken for the rows inserted (by their group's commit).
func (s *Store) insertGrouped(ctx context.Context, args []any, evs []events.Event) (_ []events.Recorded, woken bool, _ error) {
	c := s.committer
	if c == nil {
		out, err := s.insert(ctx, args, evs)
		return out, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	p := &pendingAppend{ctx: ctx, args: args, evs: evs, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.inFlight < c.max {
		c.inFlight++
		group := c.take()
		c.mu.Unlock()
		go c.flushLoop(group)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		// The group may still commit the append: as for a connection lost
		// during an append alone, the outcome is unknown to the caller.
		return nil, false, ctx.Err()
	}
	if errors.Is(p.err, errAlone) {
		out, err := s.insert(ctx, args, evs)
		return out, false, err
	}
	return p.out, p.grouped, p.err
}

// take removes up to maxGroup appends from the queue; c.mu is held.
func (c *committer) take() []*pendingAppend {
	n := min(len(c.queue), maxGroup)
	group := make([]*pendingAppend, n)
	copy(group, c.queue)
	c.queue = append(c.queue[:0], c.queue[n:]...)
	return group
}

// flushLoop commits group, then whatever queued meanwhile, until the
// queue is empty.
func (c *committer) flushLoop(group []*pendingAppend) {
	for {
		c.flush(group)
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.inFlight--
			c.mu.Unlock()
			return
		}
		group = c.take()
		c.mu.Unlock()
	}
}

// flush commits one group and wakes its appends.
func (c *committer) flush(group []*pendingAppend) {
	defer func() {
		for _, p := range group {
			close(p.done)
		}
	}()
	// Appends whose callers gave up before their group was sent are left
	// out: nothing of theirs is written.
	live := group[:0:0]
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		p := live[0]
		p.out, p.err = c.s.insert(p.ctx, p.args, p.evs)
		return
	}
	ctx, cancel := groupContext(live)
	defer cancel()
	b := &pgx.Batch{}
	for _, p := range live {
		b.Queue(appendStatement(len(p.evs), p.args), p.args...)
	}
	br := c.s.pool.SendBatch(ctx, b)
	var failed error
	for _, p := range live {
		rows, err := br.Query()
		if err == nil {
			p.out, err = scanAppended(rows, p.evs)
		}
		if err != nil && failed == nil {
			failed = err
		}
		p.grouped = true
	}
	if err := br.Close(); err != nil && failed == nil {
		failed = err
	}
	if failed == nil {
		// One wake-up of the subscribers for the whole group, not one per
		// append (Append leaves grouped appends to this).
		c.s.notify()
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(failed, &pgErr) {
		// The server refused a statement (or the commit): the implicit
		// transaction was rolled back, nothing of the group is stored.
		failed = errAlone
	}
	for _, p := range live {
		p.out, p.err, p.grouped = nil, failed, false
	}
}

// groupContext is cancelled once every append of the group gave up: a
// group is abandoned only when no one waits for it.
func groupContext(group []*pendingAppend) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(group[0].ctx))
	left := atomic.Int32{}
	left.Store(int32(len(group)))
	stops := make([]func() bool, 0, len(group))
	for _, p := range group {
		stops = append(stops, context.AfterFunc(p.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
