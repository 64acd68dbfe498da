package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// readStreamSQL reads a stream from a version on.
const readStreamSQL = selectEvents + `WHERE stream = $1 AND stream_version >= $2 ORDER BY stream_version`

// maxReadGroup bounds how many stream reads share one round trip.
const maxReadGroup = 64

// errReadAlone: the round trip a read shared failed; the read is to be
// run again on its own.
var errReadAlone = errors.New("pgstore: grouped read failed, read alone")

// pendingRead is one ReadStream waiting for its group's round trip.
type pendingRead struct {
	ctx    context.Context
	stream string
	from   int64 // the first version the statement reads
	out    []events.Recorded
	sealed [][]byte
	err    error
	done   chan struct{}
}

// reader groups the stream reads of concurrent ReadStream calls, as the
// committer groups appends: while Options.ReadGroups round trips of reads
// are in flight, further reads queue, and the next free one takes the
// whole queue (up to maxReadGroup) as one pipelined batch: one write to
// the server and one answer for all, instead of one round trip each. A
// read that finds fewer than ReadGroups in flight is sent at once, so a
// lone read waits for nothing.
//
// Each read keeps its own statement, run after the read was asked for
// (a queued read waits for a round trip that starts after it queued), so
// it sees every event committed before ReadStream was called, exactly as
// alone. Every statement of a batch runs with its own snapshot (READ
// COMMITTED), as alone. A failed batch (a lost connection, a statement the
// server refused) fails no read: each of its reads runs again alone and
// meets its own fate.
type reader struct {
	s        *Store
	mu       sync.Mutex
	queue    []*pendingRead
	inFlight int
	max      int
	trips    atomic.Int64 // round trips made, for tests
}

// readStreamRows runs readStreamSQL for stream from version from, through
// the reader when reads are grouped.
func (s *Store) readStreamRows(ctx context.Context, stream string, from int64) ([]events.Recorded, [][]byte, error) {
	r := s.reader
	if r == nil {
		return s.querySealed(ctx, new(scanner), readStreamSQL, stream, from)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p := &pendingRead{ctx: ctx, stream: stream, from: from, done: make(chan struct{})}
	r.mu.Lock()
	r.queue = append(r.queue, p)
	if r.inFlight < r.max {
		r.inFlight++
		group := r.take()
		r.mu.Unlock()
		go r.flushLoop(group)
	} else {
		r.mu.Unlock()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if errors.Is(p.err, errReadAlone) {
		return s.querySealed(ctx, new(scanner), readStreamSQL, stream, from)
	}
	return p.out, p.sealed, p.err
}

// take removes up to maxReadGroup reads from the queue; r.mu is held.
func (r *reader) take() []*pendingRead {
	n := min(len(r.queue), maxReadGroup)
	group := make([]*pendingRead, n)
	copy(group, r.queue)
	r.queue = append(r.queue[:0], r.queue[n:]...)
	return group
}

// flushLoop reads group, then whatever queued meanwhile, until the queue
// is empty.
func (r *reader) flushLoop(group []*pendingRead) {
	for {
		r.flush(group)
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.inFlight--
			r.mu.Unlock()
			return
		}
		group = r.take()
		r.mu.Unlock()
	}
}

// flush reads one group and wakes its readers.
func (r *reader) flush(group []*pendingRead) {
	defer func() {
		for _, p := range group {
			close(p.done)
		}
	}()
	// Reads whose callers gave up before their group was sent are left out.
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
	r.trips.Add(1)
	if len(live) == 1 {
		p := live[0]
		p.out, p.sealed, p.err = r.s.querySealed(p.ctx, new(scanner), readStreamSQL, p.stream, p.from)
		return
	}
	ctxs := make([]context.Context, len(live))
	for i, p := range live {
		ctxs[i] = p.ctx
	}
	ctx, cancel := groupContext(ctxs)
	defer cancel()
	b := &pgx.Batch{}
	for _, p := range live {
		b.Queue(readStreamSQL, p.stream, p.from)
	}
	br := r.s.pool.SendBatch(ctx, b)
	sc := new(scanner) // shared: its interned strings serve the whole group
	var failed error
	for _, p := range live {
		if failed == nil {
			failed = p.scan(br, sc)
		}
	}
	if err := br.Close(); err != nil && failed == nil {
		failed = err
	}
	if failed != nil {
		for _, p := range live {
			p.out, p.sealed, p.err = nil, nil, errReadAlone
		}
	}
}

// scan reads the rows of p's statement from br.
func (p *pendingRead) scan(br pgx.BatchResults, sc *scanner) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		rec, seal, err := sc.scan(rows)
		if err != nil {
			return err
		}
		p.out, p.sealed = append(p.out, rec), append(p.sealed, seal)
	}
	return rows.Err()
}
