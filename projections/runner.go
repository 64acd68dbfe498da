package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/events"
)

// Options configure a Runner.
type Options struct {
	// Projections to run; default All(). Their migrations must have been
	// applied (Migrate).
	Projections []Projection
	// BatchSize is the most events applied in one transaction; default 1000.
	// Catch-up reads full batches; live tailing applies whatever has arrived,
	// up to BatchSize, as soon as the previous batch committed.
	BatchSize int
	// RetryDelay is the first pause after a failed batch before the runner
	// retries from the stored checkpoints; it doubles up to MaxRetryDelay.
	// Defaults 200ms and 30s.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// Parallel is no longer used by the Runner: it applies a batch to all
	// its projections in one transaction on one connection (one commit per
	// batch). Kept so that existing configurations still validate; default 4.
	Parallel int
	// Logger receives progress and errors (never personal data); default
	// slog.Default().
	Logger *slog.Logger
	// Lease, when set, makes Run divide the projections with the other
	// runners that have one (see LeaseOptions): this runner applies only
	// those it owns. Without it the runner applies every projection, and
	// several runners do the same work, serialised by the checkpoint
	// locks.
	Lease *LeaseOptions
	// Partitions is the number of partitions each fold projection is
	// applied in (see Partitions in partition.go): with a lease, the
	// runners divide the partitions, so that several apply one
	// projection; 1 (the default) applies each projection whole. Every
	// runner on a database must use the same number; changing it
	// re-divides the projections at the next start (no rebuild needed).
	Partitions int
	// Linger is how long live tailing waits, from taking a batch's first
	// event, for more to join the batch (until BatchSize) before applying
	// it; 0 applies what has arrived at once. A batch's
	// statements cost about the same for one event as for a hundred, so
	// under load a short wait trades that much read-model lag for less
	// database work per event. Catch-up never waits.
	Linger time.Duration
}

func (o *Options) setDefaults() {
	if o.Projections == nil {
		o.Projections = All()
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1000
	}
	if o.Parallel == 0 {
		o.Parallel = 4
	}
	if o.Partitions == 0 {
		o.Partitions = 1
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 200 * time.Millisecond
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Lease != nil {
		l := *o.Lease
		l.setDefaults()
		o.Lease = &l
	}
}

// Validate reports every problem of o.
func (o Options) Validate() error {
	var errs []error
	if len(o.Projections) == 0 {
		errs = append(errs, errors.New("projections: no projections"))
	}
	if err := checkNames(o.Projections); err != nil {
		errs = append(errs, err)
	}
	if o.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("projections: batch size %d < 1", o.BatchSize))
	}
	if o.Parallel < 1 {
		errs = append(errs, fmt.Errorf("projections: parallel %d < 1", o.Parallel))
	}
	if o.Partitions < 1 || o.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("projections: partitions %d not within 1-%d", o.Partitions, MaxPartitions))
	}
	if o.Linger < 0 {
		errs = append(errs, fmt.Errorf("projections: linger %v < 0", o.Linger))
	}
	if o.RetryDelay < 0 || o.MaxRetryDelay < o.RetryDelay {
		errs = append(errs, errors.New("projections: retry delays must satisfy 0 <= RetryDelay <= MaxRetryDelay"))
	}
	if o.Lease != nil {
		if err := o.Lease.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Runner keeps a set of projections up to date with a Source: catch-up in
// batches, then live. All projections of a batch commit in one transaction;
// their checkpoints may still differ (a rebuilt projection, a set of
// projections that changed), and the next batch starts from the smallest,
// each projection applying only what its checkpoint does not cover. Several runners (processes) may run the same
// projections at once: the checkpoint row lock serialises their batches and
// each applies only what the checkpoint does not cover yet.
type Runner struct {
	pool *pgxpool.Pool
	src  Source
	opts Options
	// units are what the runner applies, each with its checkpoint (and
	// lease): the projections, or the partitions of the fold ones (see
	// Options.Partitions).
	units []Projection

	mu    sync.Mutex
	state map[string]Checkpoint

	// lease divides the projections with other runners (Options.Lease);
	// nil without one.
	lease *leaser

	// beforeCommit is a test hook run inside each batch transaction after
	// the rows were written and before COMMIT.
	beforeCommit func(ctx context.Context, tx pgx.Tx) error
	// afterCommit is a test hook run after each committed batch with the
	// position of its last event.
	afterCommit func(last events.Position)
}

// Checkpoint is where a projection stands.
type Checkpoint struct {
	Name     string
	Position events.Position
	// LastRecordedAt is when the last applied event was recorded (zero before
	// the first).
	LastRecordedAt time.Time
	// SchemaVersion is the number of migrations applied to the live tables.
	SchemaVersion int
	// EventsApplied counts the events the projection has consumed (also
	// those it ignores) since it was created or rebuilt.
	EventsApplied int64
	// Partitions is the number of partitions the projection is applied
	// in (1: whole; see Options.Partitions).
	Partitions int

	// of names the projection of a partition's row ("" for a
	// projection's).
	of string
}

// NewRunner checks opts and returns a runner; Run starts it.
func NewRunner(pool *pgxpool.Pool, src Source, opts Options) (*Runner, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if pool == nil || src == nil {
		return nil, errors.New("projections: runner needs a pool and a source")
	}
	r := &Runner{pool: pool, src: src, opts: opts, state: map[string]Checkpoint{}}
	r.units = unitsOf(opts.Projections, opts.Partitions)
	if opts.Lease != nil {
		r.lease = newLeaser(pool, *opts.Lease, names(r.units), unitWeights(r.units, opts.Partitions), opts.Logger)
	}
	return r, nil
}

// applySet is what a batch applies: units (projections or partitions)
// and, under a lease, the epochs this runner owns them under (nil without
// a lease).
type applySet struct {
	ps     []Projection
	epochs map[string]int64
}

// owned is the set of the units in epochs, in the runner's order.
func (r *Runner) owned(epochs map[string]int64) applySet {
	set := applySet{epochs: epochs}
	for _, p := range r.units {
		if _, ok := epochs[p.Name()]; ok {
			set.ps = append(set.ps, p)
		}
	}
	return set
}

// Owned lists the units (projections, or partitions of them: see
// ProjectionOf) this runner applies now: every one without a lease (Since
// and Epoch zero), those it owns with one.
func (r *Runner) Owned() []Owned {
	if r.lease == nil {
		out := make([]Owned, len(r.units))
		for i, p := range r.units {
			out[i] = Owned{Name: p.Name()}
		}
		return out
	}
	return r.lease.list()
}

// Instance is the runner's name in the owner tables ("" without a lease).
func (r *Runner) Instance() string {
	if r.lease == nil {
		return ""
	}
	return r.lease.opts.Instance
}

// Run catches up and then follows the log until ctx is done, returning
// ctx.Err(). An event that a projection cannot apply because of its data
// parks its corp in that projection (see Parking) and the others go on. Any
// other failure of a batch (the database gone, a deadlock, a shutdown) is
// logged and the batch retried from the stored checkpoints with backoff.
//
// With a lease (Options.Lease) it keeps the lease beside, applies the
// projections it owns and starts over from their checkpoints whenever
// they change; when ctx is done it releases them, so that the other
// runners take them over at once.
func (r *Runner) Run(ctx context.Context) error {
	if r.lease != nil {
		return r.runShared(ctx)
	}
	delay := r.opts.RetryDelay
	for {
		started := time.Now()
		err := r.runOnce(ctx, applySet{ps: r.units})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay = r.pause(ctx, err, started, delay)
	}
}

// pause logs err and waits delay (or less when ctx ends first); it returns
// the next delay.
func (r *Runner) pause(ctx context.Context, err error, started time.Time, delay time.Duration) time.Duration {
	if time.Since(started) > r.opts.MaxRetryDelay {
		delay = r.opts.RetryDelay // it ran well for a while: a new failure starts over
	}
	r.opts.Logger.Error("projections: runner failed; retrying", "err", err, "in", delay)
	t := time.NewTimer(delay)
	select {
	case <-ctx.Done():
		t.Stop()
	case <-t.C:
	}
	return min(2*delay, r.opts.MaxRetryDelay)
}

// runShared is Run under a lease.
func (r *Runner) runShared(ctx context.Context) error {
	// The lease outlives the projector's last batch: it is released after.
	kctx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		r.lease.keep(kctx)
	}()
	defer func() {
		stopKeeping()
		<-kept
	}()
	delay := r.opts.RetryDelay
	for {
		epochs, changed := r.lease.snapshot()
		if len(epochs) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
				continue
			}
		}
		rctx, cancel := context.WithCancel(ctx)
		stop := make(chan struct{})
		go func() {
			select {
			case <-changed:
				cancel()
			case <-stop:
			}
		}()
		started := time.Now()
		err := r.runOnce(rctx, r.owned(epochs))
		close(stop)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-changed: // owned projections changed: start over from their checkpoints
			continue
		default:
		}
		delay = r.pause(ctx, err, started, delay)
	}
}

func (r *Runner) runOnce(ctx context.Context, set applySet) error {
	if err := r.ensurePartitions(ctx); err != nil {
		return err
	}
	from, err := r.catchUp(ctx, set)
	if err != nil {
		return err
	}
	return r.tail(ctx, from, set)
}

// CatchUp applies every event ReadAll returns now, in batches, and returns
// the position it reached (the smallest checkpoint of the set).
//
// With a lease it applies the projections this runner owns (those Run
// took over; none when Run is not running) and then waits until the
// other runners have brought the others there too.
func (r *Runner) CatchUp(ctx context.Context) (events.Position, error) {
	if r.lease == nil {
		if err := r.ensurePartitions(ctx); err != nil {
			return events.Start, err
		}
		return r.catchUp(ctx, applySet{ps: r.units})
	}
	epochs, _ := r.lease.snapshot()
	set := r.owned(epochs)
	target := events.Start
	if len(set.ps) > 0 {
		var err error
		if target, err = r.catchUp(ctx, set); err != nil {
			return target, err
		}
	}
	head, err := r.src.Head(ctx)
	if err != nil {
		return target, fmt.Errorf("projections: head: %w", err)
	}
	if target.Less(head) {
		target = head
	}
	return target, r.WaitFor(ctx, target)
}

// ensurePartitions makes sure that the runner's fold projections are
// divided into Options.Partitions partitions (see ensurePartitions in
// partition.go), bringing partitions of another number level first.
func (r *Runner) ensurePartitions(ctx context.Context) error {
	return ensurePartitions(ctx, r, r.opts.Projections, r.opts.Partitions, func(ctx context.Context, units []Projection, to events.Position) error {
		_, err := r.catchUpTo(ctx, applySet{ps: units}, &to)
		return err
	})
}

func (r *Runner) catchUp(ctx context.Context, set applySet) (events.Position, error) {
	return r.catchUpTo(ctx, set, nil)
}

// catchUpTo is catchUp up to the position to (when not nil) at most.
func (r *Runner) catchUpTo(ctx context.Context, set applySet, to *events.Position) (events.Position, error) {
	cps, err := r.loadCheckpoints(ctx, set.ps)
	if err != nil {
		return events.Start, err
	}
	from := minPosition(cps)
	var stats statsRefresher
	for {
		recs, err := r.src.ReadAll(ctx, from, r.opts.BatchSize)
		if err != nil {
			return from, fmt.Errorf("projections: read log after %s: %w", from, err)
		}
		if to != nil {
			i := len(recs)
			for i > 0 && to.Less(recs[i-1].Position) {
				i--
			}
			recs = recs[:i]
		}
		if len(recs) == 0 {
			return from, nil
		}
		if err := r.applyBatch(ctx, set, recs); err != nil {
			return from, err
		}
		from = recs[len(recs)-1].Position
		if stats.due() {
			if _, err := r.pool.Exec(ctx, analyzeSQL(LiveSchema, projectionsOf(set.ps))); err != nil {
				return from, fmt.Errorf("projections: analyze: %w", err)
			}
		}
	}
}

// tail subscribes after from and applies what arrives in batches: the
// subscriber goroutine only hands events over, so a slow batch makes the
// next one bigger rather than the log wait per event.
func (r *Runner) tail(ctx context.Context, from events.Position, set applySet) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan events.Recorded, r.opts.BatchSize)
	errc := make(chan error, 1)
	go func() {
		errc <- r.src.Subscribe(ctx, from, func(e events.Recorded) error {
			select {
			case ch <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	batch := make([]events.Recorded, 0, r.opts.BatchSize)
	var timer *time.Timer // the linger's; stopped timers never fire late (Go ≥ 1.23)
	if r.opts.Linger > 0 {
		timer = time.NewTimer(r.opts.Linger)
		timer.Stop()
		defer timer.Stop()
	}
	for {
		select {
		case err := <-errc:
			if err == nil {
				err = errors.New("projections: subscription ended")
			}
			return err
		case e := <-ch:
			var err error
			if batch, err = r.gather(ctx, ch, append(batch[:0], e), timer); err != nil {
				return err
			}
			if err := r.applyBatch(ctx, set, batch); err != nil {
				cancel()
				<-errc
				return err
			}
			clear(batch) // let the events' bytes go
		}
	}
}

// gather adds to batch, up to BatchSize, the events waiting on ch or,
// with a linger (timer not nil), those arriving until the linger from now
// ends. It fails only when ctx is done.
func (r *Runner) gather(ctx context.Context, ch <-chan events.Recorded, batch []events.Recorded, timer *time.Timer) ([]events.Recorded, error) {
	if timer == nil {
		for len(batch) < r.opts.BatchSize {
			select {
			case e := <-ch:
				batch = append(batch, e)
			default:
				return batch, nil
			}
		}
		return batch, nil
	}
	timer.Reset(r.opts.Linger)
	defer timer.Stop()
	for len(batch) < r.opts.BatchSize {
		select {
		case e := <-ch:
			batch = append(batch, e)
		case <-timer.C:
			return batch, nil
		case <-ctx.Done():
			return batch, ctx.Err()
		}
	}
	return batch, nil
}

// Checkpoints returns where each projection stands, as last committed by
// this runner (or loaded at start); a partitioned one where its slowest
// partition stands. With a lease, those of units other runners apply are
// as this runner last saw them.
func (r *Runner) Checkpoints() []Checkpoint {
	r.mu.Lock()
	state := maps.Clone(r.state)
	r.mu.Unlock()
	aggregate(state)
	out := make([]Checkpoint, 0, len(r.opts.Projections))
	for _, p := range r.opts.Projections {
		cp := state[p.Name()]
		cp.Name = p.Name()
		out = append(out, cp)
	}
	return out
}

// WaitFor blocks until every projection's checkpoint is at or after pos, or
// ctx is done. With a lease it reads the stored checkpoints, which the
// other runners move.
func (r *Runner) WaitFor(ctx context.Context, pos events.Position) error {
	for {
		done := true
		cps := r.Checkpoints()
		if r.lease != nil {
			stored, err := readCheckpoints(ctx, r.pool, names(r.opts.Projections), false)
			if err != nil {
				return err
			}
			cps = cps[:0]
			for _, cp := range stored {
				cps = append(cps, cp)
			}
		}
		for _, cp := range cps {
			if cp.Position.Less(pos) {
				done = false
			}
		}
		if done {
			return nil
		}
		poll := 5 * time.Millisecond
		if r.lease != nil {
			poll = 20 * time.Millisecond // a query each time
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// loadCheckpoints reads the stored checkpoints of the units ps (and
// keeps those of their projections' rows for Checkpoints).
func (r *Runner) loadCheckpoints(ctx context.Context, ps []Projection) (map[string]Checkpoint, error) {
	ns := names(ps)
	all, err := readCheckpointRows(ctx, r.pool, append(slices.Clone(ns), names(projectionsOf(ps))...), false, false)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	maps.Copy(r.state, all)
	r.mu.Unlock()
	cps := make(map[string]Checkpoint, len(ns))
	for _, n := range ns {
		cps[n] = all[n]
	}
	return cps, nil
}

// Querier is what *pgxpool.Pool, *pgx.Conn and pgx.Tx share for reading.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrNotMigrated is returned when a projection has no checkpoint row: its
// migrations were never applied.
var ErrNotMigrated = errors.New("projections: projection not migrated (run custody migrate)")

const checkpointSelect = `SELECT name, commit_pos, prepare_pos, coalesce(last_recorded_at, 'epoch'), schema_version, events_applied,
		parts, coalesce(partition_of, '')
		FROM projections.projection_checkpoints`

// readCheckpoints returns where the projections ns stand: a partitioned
// one where its slowest partition stands (see aggregate). With lock it
// locks their rows and their partitions' rows (in name order, as the
// runners' batches lock them) and returns the rows as they are.
func readCheckpoints(ctx context.Context, q Querier, ns []string, lock bool) (map[string]Checkpoint, error) {
	cps, err := readCheckpointRows(ctx, q, ns, true, lock)
	if err != nil {
		return nil, err
	}
	if !lock {
		aggregate(cps)
	}
	out := make(map[string]Checkpoint, len(ns))
	for _, n := range ns {
		out[n] = cps[n]
	}
	return out, nil
}

// readCheckpointRows reads the checkpoint rows ns (and with partitions
// their partitions' rows), locked when lock.
func readCheckpointRows(ctx context.Context, q Querier, ns []string, partitions, lock bool) (map[string]Checkpoint, error) {
	sql := checkpointSelect + ` WHERE name = ANY($1)`
	if partitions {
		sql += ` OR partition_of = ANY($1)`
	}
	sql += ` ORDER BY name`
	if lock {
		sql += " FOR UPDATE"
	}
	rows, err := q.Query(ctx, sql, ns)
	if err != nil {
		return nil, fmt.Errorf("projections: read checkpoints: %w", err)
	}
	return scanCheckpoints(rows, ns)
}

// scanCheckpoint reads a row of checkpointSelect.
func scanCheckpoint(rows pgx.Rows) (Checkpoint, error) {
	var cp Checkpoint
	var c, p int64
	if err := rows.Scan(&cp.Name, &c, &p, &cp.LastRecordedAt, &cp.SchemaVersion, &cp.EventsApplied, &cp.Partitions, &cp.of); err != nil {
		return cp, fmt.Errorf("projections: read checkpoints: %w", err)
	}
	if cp.LastRecordedAt.Unix() == 0 {
		cp.LastRecordedAt = time.Time{}
	}
	cp.Position = events.Position{Commit: uint64(c), Prepare: uint64(p)}
	return cp, nil
}

// scanCheckpoints reads the rows of checkpointSelect; every name of ns
// must be there (a partition's missing row: ErrPartitionsChanged).
func scanCheckpoints(rows pgx.Rows, ns []string) (map[string]Checkpoint, error) {
	cps := map[string]Checkpoint{}
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		cps[cp.Name] = cp
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projections: read checkpoints: %w", err)
	}
	for _, n := range ns {
		if _, ok := cps[n]; !ok {
			if ProjectionOf(n) != n {
				return nil, fmt.Errorf("%w: %s", ErrPartitionsChanged, n)
			}
			return nil, fmt.Errorf("%w: %s", ErrNotMigrated, n)
		}
	}
	return cps, nil
}

// applyBatch applies recs to every projection in one transaction: each
// projection's rows and its checkpoint commit together with all the
// others', so a batch costs one commit however many projections run.
// The transaction first locks the projections' checkpoint rows (in name
// order, as a rebuild's swap does), so concurrent runners and a swap
// serialise with it, and each projection applies only the events after its
// stored checkpoint: a batch retried after a crash or applied by two
// runners is never applied twice.
//
// All projections' statements go in one round trip inside a savepoint.
// When that fails on the data of an event (see Parking), the savepoint is
// rolled back and the projections are applied one by one, each in its own
// savepoint with parking as before, still in the same transaction.
//
// Under a lease (set.epochs) the same round trip share-locks the
// projections' owner rows: a projection this runner no longer owns under
// its epoch is left alone (and forgotten: Run starts over without it).
func (r *Runner) applyBatch(ctx context.Context, set applySet, recs []events.Recorded) error {
	evs, err := decode(recs)
	if err != nil {
		return err
	}
	ps := set.ps
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("projections: begin batch: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The folds' rows of the keys the batch touches are read in the
	// round trip that locks the checkpoints (after the locks): in the
	// common case every projection applies the whole batch, and the
	// speculative writer is used as it is.
	spec := newWriter(LiveSchema, &pgx.Batch{})
	for _, p := range ps {
		if spec != nil && queueEvents(spec, p, evs) != nil {
			spec = nil // the per-projection path parks
		}
	}
	var fence *fenceCheck
	if set.epochs != nil {
		fence = &fenceCheck{instance: r.lease.opts.Instance, epochs: set.epochs}
	}
	cps, parked, err := lockCheckpoints(ctx, tx, names(ps), spec, fence)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if cp := cps[p.Name()]; cp.of == "" && cp.Partitions != 1 {
			// This runner applies the projection whole; another divided it.
			return fmt.Errorf("%w: %s is divided into %d partitions", ErrPartitionsChanged, p.Name(), cp.Partitions)
		}
	}
	if fence != nil && len(fence.lost) > 0 {
		r.lease.drop(fence.lost)
		r.opts.Logger.Warn("projections: projections taken over by another runner; not applied here any more",
			"instance", fence.instance, "projections", len(fence.lost))
	}
	// todo[i] is what projection i has not applied yet.
	todo := make([][]Event, len(ps))
	clean := true // no parked corp, no undecodable event: the one-round-trip path
	for i, p := range ps {
		if fence != nil {
			if _, lost := fence.lost[p.Name()]; lost {
				continue // another runner owns it now
			}
		}
		pos := cps[p.Name()].Position
		j := 0
		for j < len(evs) && !pos.Less(evs[j].Position) {
			j++
		}
		todo[i] = evs[j:]
		if len(todo[i]) > 0 && len(parked[ProjectionOf(p.Name())]) > 0 {
			clean = false
		}
	}
	if clean {
		for _, e := range evs {
			if e.decodeErr != nil {
				clean = false
				break
			}
		}
	}
	newly := make([][]Parked, len(ps))
	// queueCheckpoints moves the checkpoints of the projections that had
	// events to apply.
	// One statement for all: a runner may apply dozens of partitions.
	queueCheckpoints := func(b *pgx.Batch) {
		var ns []string
		var cs, pps, counts []int64
		var recorded []time.Time
		for i, p := range ps {
			if len(todo[i]) == 0 {
				continue
			}
			last := todo[i][len(todo[i])-1]
			ns = append(ns, p.Name())
			cs, pps = append(cs, int64(last.Position.Commit)), append(pps, int64(last.Position.Prepare))
			recorded, counts = append(recorded, last.RecordedAt), append(counts, int64(len(todo[i])))
		}
		if len(ns) == 0 {
			return
		}
		b.Queue(`UPDATE projections.projection_checkpoints AS c
		SET commit_pos = u.c, prepare_pos = u.p, last_recorded_at = u.l, events_applied = c.events_applied + u.n, updated_at = now()
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::bigint[]) AS u(name, c, p, l, n)
		WHERE c.name = u.name`, ns, cs, pps, recorded, counts)
	}
	moved := false // some projection has events to apply
	for i := range ps {
		if len(todo[i]) > 0 {
			moved = true
		}
	}
	applied := false
	if clean && moved {
		whole := spec != nil
		for i := range ps {
			if len(todo[i]) != len(evs) {
				whole = false
			}
		}
		if !whole {
			spec = nil
		}
		applied, err = applyAll(ctx, tx, ps, todo, spec, queueCheckpoints)
		if err != nil {
			return err
		}
	}
	b := &pgx.Batch{}
	if moved && !applied {
		for i, p := range ps {
			if len(todo[i]) == 0 {
				continue
			}
			// A corp is parked in the projection: in all its partitions.
			proj := ProjectionOf(p.Name())
			pk := parked[proj]
			if pk == nil {
				pk = map[string]bool{}
				parked[proj] = pk
			}
			if _, newly[i], err = applyParking(ctx, tx, p, LiveSchema, cps[p.Name()].Position, todo[i], pk); err != nil {
				return err
			}
			for j := range newly[i] {
				newly[i][j].Projection = proj
				queueParked(b, LiveSchema, newly[i][j])
			}
		}
		queueCheckpoints(b)
	}
	last := evs[len(evs)-1]
	if moved {
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return fmt.Errorf("projections: move checkpoints to %s: %w", last.Position, err)
			}
		}
		if r.beforeCommit != nil {
			if err := r.beforeCommit(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("projections: commit batch up to %s: %w", last.Position, err)
		}
	}
	r.mu.Lock()
	for i, p := range ps {
		cp := cps[p.Name()]
		if fence != nil {
			if _, lost := fence.lost[p.Name()]; lost {
				continue
			}
		}
		if n := len(todo[i]); n > 0 {
			l := todo[i][n-1]
			cp.Position, cp.LastRecordedAt, cp.EventsApplied = l.Position, l.RecordedAt, cp.EventsApplied+int64(n)
		}
		// A projection with nothing to do: another runner got there first,
		// take its checkpoint as ours.
		r.state[p.Name()] = cp
	}
	r.mu.Unlock()
	for _, pks := range newly {
		for _, pk := range pks {
			r.opts.Logger.Error("projections: corp parked: its events are skipped by this projection until it is rebuilt",
				"projection", pk.Projection, "corp", pk.CorpID, "position", pk.Position.String(), "event_id", pk.EventID,
				"event_type", pk.EventType, "reason", pk.Reason)
		}
	}
	if r.afterCommit != nil {
		r.afterCommit(last.Position)
	}
	return nil
}

// applyAllSavepoint names the savepoint around every projection's
// statements of a batch.
const applyAllSavepoint = "projections_apply_all"

// applyAll applies every projection's events in todo inside a savepoint
// of tx — the folds' rows loaded in one round trip (unless w, the writer
// of all of them, already holds them), then every write, the savepoint's
// release and what tail queues (the checkpoints) in one more.
// It reports false, with the savepoint rolled back and tx usable, when an
// event's data made it fail (the caller then applies projection by
// projection, parking); another error fails the batch.
func applyAll(ctx context.Context, tx pgx.Tx, ps []Projection, todo [][]Event, w *Writer, tail func(*pgx.Batch)) (bool, error) {
	if w == nil {
		w = newWriter(LiveSchema, &pgx.Batch{})
		for i, p := range ps {
			if len(todo[i]) == 0 {
				continue
			}
			if err := queueEvents(w, p, todo[i]); err != nil {
				return false, nil // nothing was sent; the per-projection path parks
			}
		}
	}
	sent, err := w.send(ctx, tx, "SAVEPOINT "+applyAllSavepoint, func(b *pgx.Batch) {
		b.Queue("RELEASE SAVEPOINT " + applyAllSavepoint)
		tail(b)
	})
	if err == nil {
		return true, nil
	}
	if !isDataError(err) {
		return false, fmt.Errorf("projections: apply batch: %w", err)
	}
	if sent {
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+applyAllSavepoint); rerr != nil {
			return false, fmt.Errorf("projections: roll back after %v: %w", reasonOf(err), rerr)
		}
	}
	return false, nil
}

// fenceCheck is a lease's part of a batch: the epochs the runner owns its
// projections under, and (filled in by lockCheckpoints) those it does not
// own any more, with their epochs.
type fenceCheck struct {
	instance string
	epochs   map[string]int64
	lost     map[string]int64
}

// lockCheckpoints locks the checkpoint rows of the units ns in tx (in name
// order) and reads them and the corps parked for each unit's projection
// (by projection name), in one round trip, with the
// rows the folds of pre (when not nil) read. The parked corps and the
// rows are read after the locks are held, so they are those the
// checkpoints go with. With a fence it also share-locks the owner rows
// still held by fence's runner under its epochs (a takeover waits for
// the transaction) and records the others in fence.lost.
func lockCheckpoints(ctx context.Context, tx pgx.Tx, ns []string, pre *Writer, fence *fenceCheck) (map[string]Checkpoint, map[string]map[string]bool, error) {
	b := &pgx.Batch{}
	b.Queue(checkpointSelect+` WHERE name = ANY($1) ORDER BY name FOR UPDATE`, ns)
	if fence != nil {
		eps := make([]int64, len(ns))
		for i, n := range ns {
			eps[i] = fence.epochs[n]
		}
		b.Queue(`SELECT o.projection FROM projections.projection_owners o
			JOIN unnest($1::text[], $2::bigint[]) AS f(projection, epoch) ON f.projection = o.projection
			WHERE o.instance = $3 AND o.epoch = f.epoch AND NOT o.released
			ORDER BY o.projection FOR SHARE OF o`, ns, eps, fence.instance)
	}
	projs := make([]string, len(ns))
	for i, n := range ns {
		projs[i] = ProjectionOf(n)
	}
	b.Queue(`SELECT projection, corp_id FROM projections.parked WHERE projection = ANY($1)`, projs)
	var reads []loadRead
	if pre != nil {
		reads = pre.queueLoads(b)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("projections: read checkpoints: %w", err)
	}
	cps, err := scanCheckpoints(rows, ns)
	if err != nil {
		return nil, nil, err
	}
	if fence != nil {
		rows, err = br.Query()
		if err != nil {
			return nil, nil, fmt.Errorf("projections: check owners: %w", err)
		}
		held, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, nil, fmt.Errorf("projections: check owners: %w", err)
		}
		fence.lost = map[string]int64{}
		for _, n := range ns {
			if !slices.Contains(held, n) {
				fence.lost[n] = fence.epochs[n]
			}
		}
	}
	rows, err = br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("projections: read parked corps: %w", err)
	}
	parked := map[string]map[string]bool{}
	var proj, corp string
	if _, err := pgx.ForEachRow(rows, []any{&proj, &corp}, func() error {
		if parked[proj] == nil {
			parked[proj] = map[string]bool{}
		}
		parked[proj][corp] = true
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("projections: read parked corps: %w", err)
	}
	if pre != nil {
		if err := pre.readLoads(br, reads); err != nil {
			return nil, nil, fmt.Errorf("projections: read the folds' rows: %w", err)
		}
	}
	return cps, parked, br.Close()
}

// batchApplier is implemented by projections that write a whole batch
// more cheaply than event by event (with the same result).
type batchApplier interface {
	applyBatch(w *Writer, evs []Event) error
}

func names(ps []Projection) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

func minPosition(cps map[string]Checkpoint) events.Position {
	first := true
	var m events.Position
	for _, cp := range cps {
		if first || cp.Position.Less(m) {
			m, first = cp.Position, false
		}
	}
	return m
}
