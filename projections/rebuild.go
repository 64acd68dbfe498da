package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/events"
)

// RebuildOptions configure Rebuild.
type RebuildOptions struct {
	// BatchSize is the number of events per shadow transaction; default 5000.
	BatchSize int
	// Fresh discards an interrupted shadow build instead of resuming it.
	Fresh bool
	// SwitchedLog says the live checkpoints are positions of another
	// event log than src (custody log rebind after a switch): the swap
	// replaces them whatever they are, instead of refusing a shadow that
	// is behind them. Use with Fresh.
	SwitchedLog bool
	// Progress, when set, is called after each committed shadow batch with
	// the events applied so far (in this run) and the position reached.
	Progress func(applied int64, at events.Position)
	// Logger; default slog.Default().
	Logger *slog.Logger
	// GCPercent, when > 0, is the Go collector's target (debug.SetGCPercent)
	// for the rebuild's duration, restored after: a rebuild allocates a
	// page of decoded events after another, and a higher target trades a
	// bounded amount of memory for less collection. The setting is the
	// process's, so set it where the rebuild is the process's work
	// (custody projections rebuild uses DefaultRebuildGCPercent). Zero
	// leaves the collector alone.
	GCPercent int

	// applyOnly builds every shadow through Apply, none by staging and
	// folding (the fallback after a data error in a bulk build).
	applyOnly bool
}

func (o *RebuildOptions) setDefaults() {
	if o.BatchSize == 0 {
		o.BatchSize = 5000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports every problem of o.
func (o RebuildOptions) Validate() error {
	if o.BatchSize < 1 {
		return fmt.Errorf("projections: rebuild batch size %d < 1", o.BatchSize)
	}
	if o.GCPercent < 0 || o.GCPercent > 10000 {
		return fmt.Errorf("projections: rebuild GC percent %d outside 0-10000", o.GCPercent)
	}
	return nil
}

// DefaultRebuildGCPercent is the collector's target custody projections
// rebuild sets for itself (RebuildOptions.GCPercent) when GOGC is not set:
// it cut the Go CPU of a rebuild of 1,000,000 events by about a third
// (BENCHMARKS.md, "Rebuild pipeline"), for a heap a few times the
// rebuild's working set (its batches and buffers), which does not grow
// with the log.
const DefaultRebuildGCPercent = 400

// ErrRebuildRunning is returned when another process is rebuilding the same
// projection.
var ErrRebuildRunning = errors.New("projections: a rebuild of this projection is already running")

// RebuildResult reports a finished rebuild.
type RebuildResult struct {
	Names []string
	// Position is where the new tables stand after the swap.
	Position events.Position
	// Applied counts events read from the log and applied to the shadow
	// tables in this run (fewer than the log holds when an interrupted build
	// was resumed).
	Applied int64
	// Resumed tells whether an interrupted shadow build was continued.
	Resumed  bool
	Duration time.Duration
}

// shadowSchema is where p is rebuilt; it also holds rebuild_state, the
// shadow's checkpoint.
func shadowSchema(p Projection) string { return "projections_rebuild_" + p.Name() }

// retiredSchema briefly holds the replaced tables inside the swap
// transaction.
func retiredSchema(p Projection) string { return "projections_retired_" + p.Name() }

// shadow is one projection being rebuilt.
type shadow struct {
	p      Projection
	schema string
	pos    events.Position
	// plan is set for a bulkBuilder; pending while it stages events (its
	// tables are empty until foldShadow).
	plan    *bulkPlan
	pending bool
	// parked holds the corps parked in the shadow (its parked table).
	parked map[string]bool
	// fallback is set when staging or folding met a data error: the
	// shadow is then built again through Apply.
	fallback bool
}

// rebuildStateMove moves a shadow's stored checkpoint (%s: the schema).
const rebuildStateMove = `UPDATE %s.rebuild_state SET commit_pos = $1, prepare_pos = $2, last_recorded_at = $3, events_applied = events_applied + $4`

// Rebuild rebuilds the projections ps from the start of the log into fresh
// tables in shadow schemas while the live tables keep serving reads (and a
// Runner keeps updating them), then swaps the tables in one transaction:
// readers see either all the old tables or all the new ones. The log is
// read once for all of ps. The swap transaction locks the projections'
// checkpoint rows, brings the shadows up to the log's head and moves the
// checkpoints to the shadows' position, so a running Runner neither loses
// nor re-applies an event.
//
// Rebuild is restartable: a shadow's rows and its checkpoint commit
// together, so an interrupted build resumes where it stopped (unless
// opts.Fresh), and a crash before the swap leaves the live tables untouched.
// The live tables must exist (Migrate). A projection already being rebuilt
// by another process makes Rebuild fail with ErrRebuildRunning.
//
// Projections that implement bulkBuilder are not replayed through Apply:
// their events are staged with COPY and folded into the tables in one
// key-ordered pass at the end (see bulkBuilder); the others apply the log
// batch by batch, each in its own transactions, into unlogged tables.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, src Source, ps []Projection, opts RebuildOptions) (RebuildResult, error) {
	res, err := rebuild(ctx, pool, src, ps, opts)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// A statement cut short by the cancellation may fail with its
		// connection's error ("use of closed network connection").
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return res, err
}

func rebuild(ctx context.Context, pool *pgxpool.Pool, src Source, ps []Projection, opts RebuildOptions) (RebuildResult, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return RebuildResult{}, err
	}
	if len(ps) == 0 {
		return RebuildResult{}, errors.New("projections: nothing to rebuild")
	}
	if err := checkNames(ps); err != nil {
		return RebuildResult{}, err
	}
	if opts.GCPercent > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(opts.GCPercent))
	}
	start := time.Now()
	res := RebuildResult{Names: names(ps)}

	// Session advisory locks on a dedicated connection keep two rebuilds of
	// one projection apart; they go away with the connection on a crash.
	lockConn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("projections: rebuild: %w", err)
	}
	defer lockConn.Release()
	for _, p := range ps {
		key := "custody-rebuild-" + p.Name()
		var got bool
		if err := lockConn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext($1))", key).Scan(&got); err != nil {
			return res, fmt.Errorf("projections: rebuild %s: lock: %w", p.Name(), err)
		}
		if !got {
			return res, fmt.Errorf("%w: %s", ErrRebuildRunning, p.Name())
		}
		defer lockConn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", key)
	}

	// The shadows come back durable and indexed for the readers (see
	// buildShadows).
	shadows, err := buildShadows(ctx, pool, src, ps, opts, &res)
	if err != nil {
		return res, err
	}

	// The swap: lock the checkpoints, take in what arrived meanwhile, move
	// the tables, drop the old ones, all or nothing. It takes the live
	// tables' strongest lock after the checkpoint rows; a live batch that
	// read those tables before it locked the rows deadlocks with it, and
	// PostgreSQL may pick the swap as the victim: then it is tried again
	// from the shadows' state before it (nothing of it was committed).
	for attempt := 1; ; attempt++ {
		saved := saveShadows(shadows)
		err = swapAll(ctx, pool, src, shadows, opts, &res)
		if err == nil || attempt == swapAttempts || !isDeadlock(err) {
			break
		}
		restoreShadows(shadows, saved)
		opts.Logger.Warn("projections: rebuild: the swap deadlocked with a live batch; trying again", "attempt", attempt)
	}
	if err != nil {
		return res, err
	}
	res.Position = minShadow(shadows)
	res.Duration = time.Since(start)
	opts.Logger.Info("projections: rebuilt", "projections", res.Names, "position", res.Position.String(), "events", res.Applied, "took", res.Duration)
	return res, nil
}

// swapAttempts bounds the swap's tries after deadlocks.
const swapAttempts = 5

// isDeadlock reports a transaction PostgreSQL aborted to break a deadlock.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// shadowState is what a swap changes of a shadow in memory.
type shadowState struct {
	pos    events.Position
	parked map[string]bool
}

func saveShadows(shadows []*shadow) []shadowState {
	out := make([]shadowState, len(shadows))
	for i, sh := range shadows {
		out[i] = shadowState{pos: sh.pos, parked: maps.Clone(sh.parked)}
	}
	return out
}

func restoreShadows(shadows []*shadow, saved []shadowState) {
	for i, sh := range shadows {
		sh.pos, sh.parked = saved[i].pos, saved[i].parked
	}
}

// swapAll is the swap's transaction (see rebuild).
func swapAll(ctx context.Context, pool *pgxpool.Pool, src Source, shadows []*shadow, opts RebuildOptions, res *RebuildResult) error {
	applied := res.Applied
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		cps, err := readCheckpoints(ctx, tx, res.Names, true)
		if err != nil {
			return err
		}
		for {
			from := minShadow(shadows)
			recs, err := src.ReadAll(ctx, from, opts.BatchSize)
			if err != nil {
				return fmt.Errorf("projections: rebuild: read log: %w", err)
			}
			if len(recs) == 0 {
				break
			}
			evs, err := decode(recs)
			if err != nil {
				return err
			}
			if err := applyShadows(ctx, tx, shadows, evs); err != nil {
				return err
			}
			applied += int64(len(recs))
		}
		for _, sh := range shadows {
			live := cps[sh.p.Name()]
			if opts.SwitchedLog {
				live.Position = events.Start // another log's: not comparable
			}
			if err := swap(ctx, tx, sh, live); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		res.Applied = applied
	}
	return err
}

// finishShadow makes sh's tables logged and creates their reader indexes,
// each table in parallel. SET LOGGED rewrites a table with its indexes, so
// the reader indexes are created after it, and built once.
func finishShadow(ctx context.Context, pool *pgxpool.Pool, sh *shadow) error {
	byTable := map[string][]string{}
	var other []string
	for _, m := range sh.p.Migrations() {
		_, read := splitReadIndexes(m)
		// Comments go first: they may hold semicolons.
		var code []string
		for _, l := range strings.Split(read, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				code = append(code, l)
			}
		}
		for _, stmt := range strings.Split(strings.Join(code, "\n"), ";") {
			if stmt = strings.TrimSpace(stmt); stmt == "" {
				continue
			}
			if m := readIndexTable.FindStringSubmatch(stmt); m != nil && slices.Contains(sh.p.Tables(), m[1]) {
				byTable[m[1]] = append(byTable[m[1]], stmt)
			} else {
				other = append(other, stmt)
			}
		}
	}
	exec := func(sql string) error {
		if _, err := pool.Exec(ctx, strings.ReplaceAll(sql, "{s}", ident(sh.schema))); err != nil {
			return fmt.Errorf("projections: rebuild %s: %w", sh.p.Name(), err)
		}
		return nil
	}
	tables := sh.p.Tables()
	errs := make([]error, len(tables))
	var wg sync.WaitGroup
	for i, t := range tables {
		wg.Go(func() {
			if errs[i] = exec(fmt.Sprintf("ALTER TABLE {s}.%s SET LOGGED", ident(t))); errs[i] != nil {
				return
			}
			for _, stmt := range byTable[t] {
				if errs[i] = exec(stmt); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, stmt := range other {
		if err := exec(stmt); err != nil {
			return err
		}
	}
	return nil
}

// readIndexTable finds the table of a reader index statement.
var readIndexTable = regexp.MustCompile(`\sON\s+\{s\}\.(\w+)`)

// swap replaces sh's live tables by its shadow tables and moves its
// checkpoint, in tx (which holds the checkpoint row lock).
func swap(ctx context.Context, tx pgx.Tx, sh *shadow, live Checkpoint) error {
	p := sh.p
	if sh.pos.Less(live.Position) {
		return fmt.Errorf("projections: rebuild %s: shadow at %s is behind the live checkpoint %s", p.Name(), sh.pos, live.Position)
	}
	var lastRecorded time.Time
	var applied int64
	if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(last_recorded_at, 'epoch'), events_applied FROM %s.rebuild_state`, ident(sh.schema))).Scan(&lastRecorded, &applied); err != nil {
		return fmt.Errorf("projections: rebuild %s: read shadow state: %w", p.Name(), err)
	}
	// The shadow's parked corps replace the projection's: a rebuild
	// un-parks every corp whose events now apply.
	if _, err := tx.Exec(ctx, `DELETE FROM projections.parked WHERE projection = $1`, p.Name()); err != nil {
		return fmt.Errorf("projections: rebuild %s: swap parked corps: %w", p.Name(), err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO projections.parked SELECT * FROM %s.parked WHERE projection = $1`, ident(sh.schema)), p.Name()); err != nil {
		return fmt.Errorf("projections: rebuild %s: swap parked corps: %w", p.Name(), err)
	}
	retired := ident(retiredSchema(p))
	stmts := []string{"DROP SCHEMA IF EXISTS " + retired + " CASCADE", "CREATE SCHEMA " + retired}
	for _, t := range p.Tables() {
		stmts = append(stmts,
			fmt.Sprintf("ALTER TABLE IF EXISTS %s.%s SET SCHEMA %s", ident(LiveSchema), ident(t), retired),
			fmt.Sprintf("ALTER TABLE %s.%s SET SCHEMA %s", ident(sh.schema), ident(t), ident(LiveSchema)))
	}
	stmts = append(stmts, "DROP SCHEMA "+retired+" CASCADE", "DROP SCHEMA "+ident(sh.schema)+" CASCADE")
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("projections: rebuild %s: swap: %w", p.Name(), err)
		}
	}
	var last any
	if lastRecorded.Unix() != 0 {
		last = lastRecorded
	}
	_, err := tx.Exec(ctx, `UPDATE projections.projection_checkpoints SET commit_pos = $2, prepare_pos = $3,
			schema_version = $4, last_recorded_at = $5, events_applied = $6, rebuilt_at = now(), updated_at = now()
		WHERE name = $1`,
		p.Name(), int64(sh.pos.Commit), int64(sh.pos.Prepare), len(p.Migrations()), last, applied)
	if err != nil {
		return fmt.Errorf("projections: rebuild %s: move checkpoint: %w", p.Name(), err)
	}
	return movePartitions(ctx, tx, p.Name(), sh.pos, last)
}

// buildShadows prepares the shadows of ps (resuming previous ones unless
// opts.Fresh) and applies the log to them until ReadAll returns nothing,
// reading it once for all, then makes each durable and indexes it for the
// readers (finishShadow) as soon as it is built. The live tables are not
// touched.
func buildShadows(ctx context.Context, pool *pgxpool.Pool, src Source, ps []Projection, opts RebuildOptions, res *RebuildResult) ([]*shadow, error) {
	shadows := make([]*shadow, len(ps))
	for i, p := range ps {
		sh, resumed, err := prepareShadow(ctx, pool, p, opts.Fresh, opts.applyOnly)
		if err != nil {
			return nil, err
		}
		if resumed {
			res.Resumed = true
			opts.Logger.Info("projections: resuming rebuild", "projection", p.Name(), "from", sh.pos.String())
		}
		shadows[i] = sh
	}
	// One reader reads and decodes the log once for all; every shadow
	// applies the batches in its own goroutine and transactions, so a slow
	// projection does not hold the others at each batch: the database's
	// cores stay busy. The channels bound how far the reader runs ahead.
	type batch struct{ evs []Event }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		done     = make([]int, len(shadows)) // batches committed per shadow
		sizes    []int                       // events per batch read
		lasts    []events.Position
		reported int
	)
	fallBack := func(sh *shadow, err error) {
		opts.Logger.Error("projections: rebuild: a data error in the bulk build; building the projection again through Apply",
			"projection", sh.p.Name(), "reason", reasonOf(err))
		sh.fallback = true
	}
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	// committed records shadow i's batch k and reports the batches every
	// shadow has committed, in order.
	committed := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		done[i]++
		for reported < slices.Min(done) {
			res.Applied += int64(sizes[reported])
			if opts.Progress != nil {
				opts.Progress(res.Applied, lasts[reported])
			}
			reported++
		}
	}
	// finish indexes a built shadow for the readers and makes its tables
	// durable before they serve, outside the swap transaction so that it
	// stays short, as soon as the shadow is built: while the others are
	// still folding.
	finish := func(sh *shadow) {
		if ctx.Err() != nil {
			return
		}
		began := time.Now()
		if err := finishShadow(ctx, pool, sh); err != nil {
			fail(err)
			return
		}
		opts.Logger.Info("projections: rebuild: tables made durable and indexed for readers", "projection", sh.p.Name(), "took", time.Since(began))
	}
	chans := make([]chan batch, len(shadows))
	for i := range chans {
		chans[i] = make(chan batch, 2)
	}
	var wg sync.WaitGroup
	// The log is read one page ahead of decoding, so reading and decoding
	// overlap.
	pages := make(chan []events.Recorded, 1)
	wg.Go(func() {
		defer close(pages)
		from := minShadow(shadows)
		for {
			recs, err := src.ReadAll(ctx, from, opts.BatchSize)
			if err != nil {
				fail(fmt.Errorf("projections: rebuild: read log after %s: %w", from, err))
				return
			}
			if len(recs) == 0 {
				return
			}
			select {
			case pages <- recs:
			case <-ctx.Done():
				return
			}
			// After a batch every shadow is at its last event or beyond.
			from = recs[len(recs)-1].Position
		}
	})
	wg.Go(func() {
		defer func() {
			for _, ch := range chans {
				close(ch)
			}
		}()
		for recs := range pages {
			if ctx.Err() != nil {
				continue // drain: the reader may be blocked on pages
			}
			evs, err := decode(recs)
			if err != nil {
				fail(err)
				continue
			}
			last := recs[len(recs)-1].Position
			mu.Lock()
			sizes, lasts = append(sizes, len(recs)), append(lasts, last)
			mu.Unlock()
			for _, ch := range chans {
				select {
				case ch <- batch{evs: evs}:
				case <-ctx.Done():
				}
			}
		}
	})
	began := time.Now()
	for i, sh := range shadows {
		wg.Go(func() {
			var stats statsRefresher
			for b := range chans[i] {
				if ctx.Err() != nil {
					continue // drain: the reader may be blocked on this channel
				}
				if sh.fallback {
					committed(i) // the shadow is built again through Apply
					continue
				}
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if sh.pending {
						return stageBatch(ctx, tx, sh, b.evs)
					}
					return applyShadows(ctx, tx, []*shadow{sh}, b.evs)
				})
				if err != nil && sh.pending && isDataError(err) {
					fallBack(sh, err)
					committed(i)
					continue
				}
				if err != nil {
					fail(err)
					continue
				}
				committed(i)
				if !sh.pending && stats.due() {
					if _, err := pool.Exec(ctx, analyzeSQL(sh.schema, []Projection{sh.p})); err != nil {
						fail(fmt.Errorf("projections: rebuild %s: analyze: %w", sh.p.Name(), err))
					}
				}
			}
			opts.Logger.Info("projections: rebuild: log read", "projection", sh.p.Name(), "took", time.Since(began))
			if ctx.Err() != nil || sh.fallback {
				return
			}
			if !sh.pending {
				finish(sh)
				return
			}
			opts.Logger.Info("projections: rebuild: deriving the tables from the staged events", "projection", sh.p.Name())
			folding := time.Now()
			var ph foldPhases
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return foldShadow(ctx, tx, sh, &ph) }); err != nil {
				if isDataError(err) {
					fallBack(sh, err)
					return
				}
				fail(err)
				return
			}
			opts.Logger.Info("projections: rebuild: tables derived", append([]any{"projection", sh.p.Name(), "took", time.Since(folding)}, ph.attrs()...)...)
			sh.pending = false
			analyzing := time.Now()
			if _, err := pool.Exec(ctx, analyzeSQL(sh.schema, []Projection{sh.p})); err != nil {
				fail(fmt.Errorf("projections: rebuild %s: analyze: %w", sh.p.Name(), err))
				return
			}
			opts.Logger.Info("projections: rebuild: tables analyzed", "projection", sh.p.Name(), "took", time.Since(analyzing))
			finish(sh)
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	// The shadows whose staging or fold met a data error are built again
	// from the start through Apply, which parks the corp of the event at
	// fault exactly as the runner does.
	var again []Projection
	for _, sh := range shadows {
		if sh.fallback {
			again = append(again, sh.p)
		}
	}
	if len(again) > 0 {
		o := opts
		o.Fresh, o.applyOnly = true, true
		redone, err := buildShadows(ctx, pool, src, again, o, res)
		if err != nil {
			return nil, err
		}
		for i, sh := range shadows {
			for _, r := range redone {
				if r.p.Name() == sh.p.Name() {
					shadows[i] = r
				}
			}
		}
	}
	return shadows, nil
}

// applyShadows applies evs to every shadow that has not seen them yet,
// parking corps like the runner does, and moves the shadows' stored
// checkpoints, in tx. Any other failure fails the whole rebuild; a later
// run resumes from the stored checkpoints.
func applyShadows(ctx context.Context, tx pgx.Tx, shadows []*shadow, evs []Event) error {
	b := &pgx.Batch{}
	last := evs[len(evs)-1]
	var moved []*shadow
	for _, sh := range shadows {
		if sh.pending {
			return fmt.Errorf("projections: rebuild %s: internal error: events applied before the staged ones were folded", sh.p.Name())
		}
		n, newly, err := applyParking(ctx, tx, sh.p, sh.schema, sh.pos, evs, sh.parked)
		if err != nil {
			return fmt.Errorf("projections: rebuild: %w", err)
		}
		if n == 0 {
			continue
		}
		for _, pk := range newly {
			queueParked(b, sh.schema, pk)
		}
		b.Queue(fmt.Sprintf(rebuildStateMove, ident(sh.schema)),
			int64(last.Position.Commit), int64(last.Position.Prepare), last.RecordedAt, n)
		moved = append(moved, sh)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("projections: rebuild: apply %d events up to %s: %w", len(evs), last.Position, err)
	}
	for _, sh := range moved {
		sh.pos = last.Position
	}
	return nil
}

func minShadow(shadows []*shadow) events.Position {
	m := shadows[0].pos
	for _, sh := range shadows[1:] {
		if sh.pos.Less(m) {
			m = sh.pos
		}
	}
	return m
}

// prepareShadow makes sure the shadow schema holds p's freshly migrated
// tables and returns the shadow, positioned where to continue from, and
// whether an interrupted build is resumed.
func prepareShadow(ctx context.Context, pool *pgxpool.Pool, p Projection, fresh, applyOnly bool) (*shadow, bool, error) {
	sh := &shadow{p: p, schema: shadowSchema(p), pos: events.Start, parked: map[string]bool{}}
	if plan, ok := planOf(p); ok && !applyOnly {
		sh.plan = &plan
	}
	isBulk := sh.plan != nil
	if !fresh {
		var c, pr int64
		var version int
		var pending bool
		err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT commit_pos, prepare_pos, schema_version, bulk_pending FROM %s.rebuild_state`, ident(sh.schema))).Scan(&c, &pr, &version, &pending)
		if err == nil && version == len(p.Migrations()) && shadowComplete(ctx, pool, p) && (!pending || isBulk && stagingExists(ctx, pool, sh.schema)) {
			if parked, err := readParked(ctx, pool, sh.schema, nil); err == nil {
				sh.pos, sh.pending = events.Position{Commit: uint64(c), Prepare: uint64(pr)}, pending
				for _, pk := range parked {
					sh.parked[pk.CorpID] = true
				}
				return sh, true, nil
			}
		}
		// Anything else (no shadow, another schema version, a broken
		// leftover) starts over below.
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		stmts := []string{
			"DROP SCHEMA IF EXISTS " + ident(sh.schema) + " CASCADE",
			"CREATE SCHEMA " + ident(sh.schema),
			fmt.Sprintf(`CREATE UNLOGGED TABLE %s.rebuild_state (
				commit_pos bigint NOT NULL, prepare_pos bigint NOT NULL, schema_version int NOT NULL,
				last_recorded_at timestamptz, events_applied bigint NOT NULL DEFAULT 0,
				bulk_pending boolean NOT NULL)`, ident(sh.schema)),
			fmt.Sprintf(`INSERT INTO %s.rebuild_state (commit_pos, prepare_pos, schema_version, bulk_pending) VALUES (0, 0, %d, %t)`,
				ident(sh.schema), len(p.Migrations()), isBulk),
			fmt.Sprintf(parkedDDL, ident(sh.schema)),
		}
		if isBulk {
			stmts = append(stmts, stagingDDL(sh.schema, *sh.plan))
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		for _, m := range p.Migrations() {
			load, _ := splitReadIndexes(m)
			if err := applyMigrations(ctx, tx, sh.schema, []string{load}); err != nil {
				return err
			}
		}
		if isBulk {
			// Written once, by the fold's COPY: logged from the start, so
			// that making them durable does not rewrite them.
			return nil
		}
		// Unlogged while building: no WAL for the many row versions a build
		// writes. A server crash empties unlogged tables, rebuild_state
		// included, and the next build then starts over. swap logs them.
		for _, t := range p.Tables() {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s SET UNLOGGED", ident(sh.schema), ident(t))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("projections: rebuild %s: prepare shadow: %w", p.Name(), err)
	}
	sh.pending = isBulk
	return sh, false, nil
}

// stagingExists reports whether schema holds a bulk staging table.
func stagingExists(ctx context.Context, q Querier, schema string) bool {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)`, schema, stagingTable).Scan(&ok)
	return err == nil && ok
}

// shadowComplete reports whether every table of p exists in its shadow.
func shadowComplete(ctx context.Context, q Querier, p Projection) bool {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = ANY($2)`,
		shadowSchema(p), p.Tables()).Scan(&n)
	return err == nil && n == len(p.Tables())
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }
