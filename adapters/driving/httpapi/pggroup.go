package httpapi

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxGroup bounds how many statements share one round trip.
const maxGroup = 128

// errAlone: the group a statement was part of failed on a statement (its
// own or another's) and was rolled back as a whole; the statement is to be
// run again on its own.
var errAlone = errors.New("httpapi: statement group rolled back, run alone")

// groupedStatement is one statement waiting for its group.
type groupedStatement struct {
	ctx  context.Context
	sql  string
	args []any
	// scan reads the statement's rows. It is called again, on the rows of
	// the statement run alone, when the group's transaction was rolled
	// back: it must set every result anew.
	scan func(pgx.Rows) error
	err  error
	done chan struct{}
}

// pgGroup runs the short statements of concurrent requests (idempotency
// lookups and saves) together: while one group is in flight, further
// statements queue, and the next group sends the whole queue in one
// pipelined round trip, one implicit transaction, one commit. Each
// statement keeps its own result. A statement the server refuses aborts
// the whole transaction (nothing of the group is stored) and every
// statement of the group runs again alone, so each gets exactly the
// answer it gets without grouping. A lost connection fails the whole
// group with its error.
type pgGroup struct {
	pool     *pgxpool.Pool
	mu       sync.Mutex
	queue    []*groupedStatement
	inFlight bool
}

// query runs sql with args in the next group and passes its rows to scan.
func (g *pgGroup) query(ctx context.Context, scan func(pgx.Rows) error, sql string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := &groupedStatement{ctx: ctx, sql: sql, args: args, scan: scan, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, st)
	if !g.inFlight {
		g.inFlight = true
		group := g.take()
		g.mu.Unlock()
		go g.flushLoop(group)
	} else {
		g.mu.Unlock()
	}
	select {
	case <-st.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if errors.Is(st.err, errAlone) {
		return g.alone(ctx, st)
	}
	return st.err
}

// alone runs one statement by itself.
func (g *pgGroup) alone(ctx context.Context, st *groupedStatement) error {
	rows, err := g.pool.Query(ctx, st.sql, st.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := st.scan(rows); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// take removes up to maxGroup statements from the queue; g.mu is held.
func (g *pgGroup) take() []*groupedStatement {
	n := min(len(g.queue), maxGroup)
	group := make([]*groupedStatement, n)
	copy(group, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	return group
}

func (g *pgGroup) flushLoop(group []*groupedStatement) {
	for {
		g.flush(group)
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.inFlight = false
			g.mu.Unlock()
			return
		}
		group = g.take()
		g.mu.Unlock()
	}
}

// flush runs one group and wakes its statements' callers. Statements
// whose callers gave up before the group was sent are left out.
func (g *pgGroup) flush(group []*groupedStatement) {
	defer func() {
		for _, st := range group {
			close(st.done)
		}
	}()
	live := group[:0:0]
	for _, st := range group {
		if err := st.ctx.Err(); err != nil {
			st.err = err
			continue
		}
		live = append(live, st)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].err = g.alone(live[0].ctx, live[0])
		return
	}
	ctx, cancel := groupContext(live)
	defer cancel()
	b := &pgx.Batch{}
	for _, st := range live {
		b.Queue(st.sql, st.args...)
	}
	br := g.pool.SendBatch(ctx, b)
	var failed error
	for _, st := range live {
		rows, err := br.Query()
		if err == nil {
			err = st.scan(rows)
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil && failed == nil {
			failed = err
		}
	}
	if err := br.Close(); err != nil && failed == nil {
		failed = err
	}
	if failed == nil {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(failed, &pgErr) {
		failed = errAlone
	}
	for _, st := range live {
		st.err = failed
	}
}

// groupContext is cancelled once every caller of the group gave up.
func groupContext(group []*groupedStatement) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(group[0].ctx))
	var left atomic.Int32
	left.Store(int32(len(group)))
	stops := make([]func() bool, 0, len(group))
	for _, st := range group {
		stops = append(stops, context.AfterFunc(st.ctx, func() {
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
