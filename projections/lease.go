package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LeaseOptions make a Runner divide its projections with the other
// runners (custody serve instances) on the same database, each applying
// only the projections it owns.
//
// Every runner keeps a row in projections.projection_instances alive with
// a heartbeat every Heartbeat; a runner not heard of for TTL is gone. On
// each heartbeat a runner counts the live runners, works out its fair
// share (the projections divided as evenly as possible, the runners in
// name order taking the larger shares first), releases what it holds
// beyond its share and takes over projections that are free — never owned,
// released, or owned by a runner that is gone — up to its share. A
// takeover raises the projection's epoch in projections.projection_owners.
//
// With Options.Partitions the runners divide units: the partitions of the
// fold projections and the other projections (see Partitions in
// partition.go), in the same way; a whole projection weighs as much as
// all the partitions of one, and a share is of weight (the last unit a
// runner takes may bring it beyond its share).
//
// Each batch transaction share-locks the owner rows of its projections
// and applies only those still owned by this runner under the epoch it
// took them with, before it moves their checkpoints: a runner that lost a
// projection (it was slow, its connections were cut, it was paused) never
// applies to it again, and a takeover waits for a batch in flight. The
// checkpoint-in-transaction guarantee is unchanged: whoever applies,
// applies only what the checkpoint does not cover yet.
//
// A row naming a runner under an epoch it does not hold (its takeover
// committed after the heartbeat stopped waiting for the answer, or its
// lease lapsed and it forgot what it owned) is taken back at its next
// heartbeat while the runner is under its share and released otherwise:
// no unit stays claimed by a live runner that does not apply it.
//
// A runner stopping (its Run's context ending) releases its projections
// and leaves at once; one that dies is taken over TTL after its last
// heartbeat at the latest, plus at most one Heartbeat for the others to
// notice. Instance names must be unique among the runners.
type LeaseOptions struct {
	// Instance names this runner in the owner tables and in status
	// (default hostname:pid).
	Instance string
	// TTL is how long a runner counts as alive after its last heartbeat
	// (default 5s).
	TTL time.Duration
	// Heartbeat is the period of heartbeats and rebalancing (default
	// TTL/5; less than TTL).
	Heartbeat time.Duration
}

func (o *LeaseOptions) setDefaults() {
	if o.Instance == "" {
		o.Instance = DefaultInstance()
	}
	if o.TTL == 0 {
		o.TTL = 5 * time.Second
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = o.TTL / 5
	}
}

func (o LeaseOptions) validate() error {
	var errs []error
	if o.TTL <= 0 {
		errs = append(errs, fmt.Errorf("projections: lease TTL %v must be positive", o.TTL))
	}
	if o.Heartbeat <= 0 || o.Heartbeat >= o.TTL {
		errs = append(errs, fmt.Errorf("projections: lease heartbeat %v must be positive and shorter than the TTL %v", o.Heartbeat, o.TTL))
	}
	return errors.Join(errs...)
}

// DefaultInstance is hostname:pid.
func DefaultInstance() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// Owned is a projection this runner applies: since when and under which
// epoch.
type Owned struct {
	Name  string
	Epoch int64
	Since time.Time
}

// Owner is the runner a projection was last taken over by.
type Owner struct {
	Projection string
	Instance   string
	Since      time.Time
	Epoch      int64
	// Released: that runner gave the projection up (it stopped, or
	// rebalanced) and nobody took it over since.
	Released bool
	// Alive: the runner's heartbeat is recent (within its TTL).
	Alive bool
	// Heartbeat is the runner's last heartbeat (zero when it left).
	Heartbeat time.Time
}

// Owners lists the projections' owners, by projection; projections never
// taken over (no runner with LeaseOptions ran) are missing.
func Owners(ctx context.Context, q Querier) ([]Owner, error) {
	rows, err := q.Query(ctx, `SELECT o.projection, o.instance, o.since, o.epoch, o.released,
			coalesce(i.expires > now(), false), coalesce(i.heartbeat, 'epoch')
		FROM projections.projection_owners o LEFT JOIN projections.projection_instances i USING (instance)
		ORDER BY o.projection`)
	if err != nil {
		return nil, fmt.Errorf("projections: owners: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Owner, error) {
		var o Owner
		err := r.Scan(&o.Projection, &o.Instance, &o.Since, &o.Epoch, &o.Released, &o.Alive, &o.Heartbeat)
		if o.Heartbeat.Unix() == 0 {
			o.Heartbeat = time.Time{}
		}
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("projections: owners: %w", err)
	}
	return out, nil
}

// share is how many of n projections the runner at index i of k live
// runners (in name order) owns.
func share(n, k, i int) int {
	if k <= 0 {
		return n
	}
	q := n / k
	if i < n%k {
		q++
	}
	return q
}

// leaser keeps a runner's lease: its heartbeats, the projections it owns
// and their epochs.
type leaser struct {
	pool  *pgxpool.Pool
	opts  LeaseOptions
	names []string // every unit of the runner, in its order
	// weights are the units' shares of the work (1 each when nil): a
	// projection applied whole weighs as much as all the partitions of
	// one applied in partitions.
	weights map[string]int
	log     *slog.Logger

	mu      sync.Mutex
	owned   map[string]Owned
	changed chan struct{} // closed when owned changes, then replaced
	// validUntil is the end of the lease as this process sees it: TTL
	// after the last heartbeat that was answered was sent.
	validUntil time.Time

	// crashed (tests) makes the runner die like a killed process: no
	// more heartbeats, nothing released.
	crashed atomic.Bool
}

func newLeaser(pool *pgxpool.Pool, opts LeaseOptions, names []string, weights map[string]int, log *slog.Logger) *leaser {
	return &leaser{pool: pool, opts: opts, names: names, weights: weights, log: log, owned: map[string]Owned{}, changed: make(chan struct{})}
}

// weight is unit n's share of the work.
func (l *leaser) weight(n string) int {
	if w, ok := l.weights[n]; ok {
		return w
	}
	return 1
}

// snapshot returns the owned projections' epochs and a channel closed at
// the next change.
func (l *leaser) snapshot() (map[string]int64, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.owned))
	for n, o := range l.owned {
		out[n] = o.Epoch
	}
	return out, l.changed
}

// list returns the owned projections in the runner's order.
func (l *leaser) list() []Owned {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Owned
	for _, n := range l.names {
		if o, ok := l.owned[n]; ok {
			out = append(out, o)
		}
	}
	return out
}

// set replaces the owned set; l.mu held.
func (l *leaser) setLocked(owned map[string]Owned) {
	same := len(owned) == len(l.owned)
	for n, o := range owned {
		if l.owned[n] != o {
			same = false
		}
	}
	if same {
		return
	}
	l.owned = owned
	close(l.changed)
	l.changed = make(chan struct{})
}

// drop forgets the named projections if they are still held under the
// given epochs (a batch found them taken over).
func (l *leaser) drop(epochs map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := map[string]Owned{}
	for n, o := range l.owned {
		if e, ok := epochs[n]; ok && e == o.Epoch {
			continue
		}
		next[n] = o
	}
	l.setLocked(next)
}

// keep beats until ctx is done, then releases what it owns and leaves.
func (l *leaser) keep(ctx context.Context) {
	t := time.NewTicker(l.opts.Heartbeat)
	defer t.Stop()
	failing := false
	for {
		if l.crashed.Load() {
			return
		}
		if err := l.beat(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				l.log.Warn("projections: lease heartbeat failed", "instance", l.opts.Instance, "err", err)
			}
			failing = true
			l.mu.Lock()
			if time.Now().After(l.validUntil) && len(l.owned) > 0 {
				l.setLocked(map[string]Owned{}) // others may own them by now
				l.mu.Unlock()
				l.log.Warn("projections: lease expired; applying nothing until a heartbeat succeeds", "instance", l.opts.Instance)
			} else {
				l.mu.Unlock()
			}
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			if !l.crashed.Load() {
				l.leave()
			}
			return
		case <-t.C:
		}
	}
}

// leave releases every owned projection and removes the runner's
// heartbeat row, so that the others take over at their next heartbeat.
func (l *leaser) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), max(l.opts.TTL, 2*time.Second))
	defer cancel()
	owned := l.list()
	l.mu.Lock()
	l.setLocked(map[string]Owned{})
	l.mu.Unlock()
	b := &pgx.Batch{}
	for _, o := range owned {
		b.Queue(`UPDATE projections.projection_owners SET released = true WHERE projection = $1 AND instance = $2 AND epoch = $3`,
			o.Name, l.opts.Instance, o.Epoch)
	}
	b.Queue(`DELETE FROM projections.projection_instances WHERE instance = $1`, l.opts.Instance)
	if err := l.pool.SendBatch(ctx, b).Close(); err != nil {
		l.log.Warn("projections: lease not released on stop; the others take over after its TTL", "instance", l.opts.Instance, "err", err)
	}
}

// beat records a heartbeat and rebalances: it keeps what is still its
// own, releases what is beyond its share and takes free projections up
// to it.
func (l *leaser) beat(ctx context.Context) (err error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.TTL)
	defer cancel()
	me := l.opts.Instance
	sent := time.Now()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO projections.projection_instances AS i (instance, started, heartbeat, expires)
		VALUES ($1, now(), now(), now() + $2 * interval '1 microsecond')
		ON CONFLICT (instance) DO UPDATE SET heartbeat = now(), expires = EXCLUDED.expires`, me, l.opts.TTL.Microseconds())
	b.Queue(`DELETE FROM projections.projection_instances WHERE expires < now() - interval '1 day'`)
	b.Queue(`SELECT instance FROM projections.projection_instances WHERE expires > now() ORDER BY instance`)
	b.Queue(`SELECT o.projection, o.instance, o.epoch, o.released, coalesce(i.expires > now(), false)
		FROM projections.projection_owners o LEFT JOIN projections.projection_instances i USING (instance)
		WHERE o.projection = ANY($1)`, l.names)
	br := l.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("heartbeat: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("heartbeat: %w", err)
	}
	rows, _ := br.Query()
	live, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		br.Close()
		return fmt.Errorf("heartbeat: live runners: %w", err)
	}
	type row struct {
		instance        string
		epoch           int64
		released, alive bool
	}
	db := map[string]row{}
	rows, _ = br.Query()
	var name string
	var rw row
	if _, err := pgx.ForEachRow(rows, []any{&name, &rw.instance, &rw.epoch, &rw.released, &rw.alive}, func() error {
		db[name] = rw
		return nil
	}); err != nil {
		br.Close()
		return fmt.Errorf("heartbeat: owners: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if !slices.Contains(live, me) {
		live = append(live, me) // a TTL shorter than the round trip
		slices.Sort(live)
	}

	l.mu.Lock()
	l.validUntil = sent.Add(l.opts.TTL)
	// What is still ours: the row says so, under our epoch.
	mine := map[string]Owned{}
	for n, o := range l.owned {
		if r, ok := db[n]; ok && r.instance == me && r.epoch == o.Epoch && !r.released {
			mine[n] = o
		}
	}
	lost := len(mine) < len(l.owned)
	l.setLocked(mine)
	l.mu.Unlock()
	if lost {
		l.log.Warn("projections: projections taken over by another runner", "instance", me)
	}

	// The share is of the units' weights: a runner takes free units
	// while it holds less than its share (the last may take it beyond)
	// and releases units, the last ones first, as long as it keeps its
	// share. With equal weights it holds its share exactly.
	total := 0
	for _, n := range l.names {
		total += l.weight(n)
	}
	want := share(total, len(live), slices.Index(live, me))
	have := 0
	for n := range mine {
		have += l.weight(n)
	}
	// Rows that name this runner under an epoch it does not hold: a
	// takeover that committed after the beat had given up waiting for its
	// answer (the beat's deadline is the TTL), or units forgotten when the
	// lease lapsed. Nobody applies them and the others cannot take them
	// while this runner lives: they are taken back below while the runner
	// is under its share, and released otherwise.
	strays := map[string]int64{}
	for _, n := range l.names {
		if r, ok := db[n]; ok && r.instance == me && !r.released {
			if _, held := mine[n]; !held {
				strays[n] = r.epoch
			}
		}
	}
	defer func() {
		if err == nil {
			err = l.releaseStrays(ctx, strays)
		}
	}()
	// Beyond the share: release the last ones (in the runner's order).
	if have > want {
		var drop []Owned
		for i := len(l.names) - 1; i >= 0 && have > want; i-- {
			if o, ok := mine[l.names[i]]; ok && have-l.weight(o.Name) >= want {
				drop = append(drop, o)
				have -= l.weight(o.Name)
			}
		}
		l.mu.Lock()
		next := map[string]Owned{}
		for n, o := range l.owned {
			if !slices.ContainsFunc(drop, func(d Owned) bool { return d.Name == n }) {
				next[n] = o
			}
		}
		l.setLocked(next)
		l.mu.Unlock()
		for _, o := range drop {
			// Waits for a batch in flight that holds the row; a batch
			// starting later sees the release and skips the projection.
			if _, err := l.pool.Exec(ctx, `UPDATE projections.projection_owners SET released = true
				WHERE projection = $1 AND instance = $2 AND epoch = $3`, o.Name, me, o.Epoch); err != nil {
				return fmt.Errorf("release %s: %w", o.Name, err)
			}
			l.log.Info("projections: projection released to rebalance", "instance", me, "projection", o.Name, "live_runners", len(live))
		}
		return nil
	}
	// Below the share: take free ones, ours from an earlier session first.
	var free []string
	for pass := 0; pass < 2; pass++ {
		for _, n := range l.names {
			if _, ok := mine[n]; ok {
				continue
			}
			r, ok := db[n]
			ours := ok && r.instance == me
			isFree := !ok || r.released || !r.alive || ours
			if isFree && ours == (pass == 0) {
				free = append(free, n)
			}
		}
	}
	for _, n := range free {
		if have >= want {
			break
		}
		var o Owned
		err := l.pool.QueryRow(ctx, `INSERT INTO projections.projection_owners AS o (projection, instance, since, epoch, released)
			VALUES ($1, $2, now(), 1, false)
			ON CONFLICT (projection) DO UPDATE SET instance = EXCLUDED.instance, since = now(), epoch = o.epoch + 1, released = false
			WHERE o.released OR o.instance = EXCLUDED.instance OR NOT EXISTS (
				SELECT 1 FROM projections.projection_instances i WHERE i.instance = o.instance AND i.expires > now())
			RETURNING epoch, since`, n, me).Scan(&o.Epoch, &o.Since)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // another runner was quicker
		}
		if err != nil {
			return fmt.Errorf("take over %s: %w", n, err)
		}
		o.Name = n
		mine[n] = o
		delete(strays, n)
		have += l.weight(n)
		l.mu.Lock()
		next := maps.Clone(l.owned)
		next[n] = o
		l.setLocked(next)
		l.mu.Unlock()
		l.log.Info("projections: projection taken over", "instance", me, "projection", n, "epoch", o.Epoch, "live_runners", len(live))
	}
	return nil
}

// releaseStrays releases the units named (with the epochs the owner rows
// had) that this runner's rows still claim but it does not hold; a row
// another runner took over since is left alone.
func (l *leaser) releaseStrays(ctx context.Context, strays map[string]int64) error {
	if len(strays) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, n := range slices.Sorted(maps.Keys(strays)) {
		b.Queue(`UPDATE projections.projection_owners SET released = true
			WHERE projection = $1 AND instance = $2 AND epoch = $3 AND NOT released`, n, l.opts.Instance, strays[n])
	}
	if err := l.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("release units not held: %w", err)
	}
	l.log.Info("projections: units this runner's rows claimed but it did not hold released", "instance", l.opts.Instance, "units", len(strays))
	return nil
}
