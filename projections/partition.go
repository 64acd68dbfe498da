package projections

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Partitions divide the work within a fold projection (see
// foldProjection), so that several runners apply one projection
// together.
//
// With Options.Partitions = P > 1 each fold projection X is applied as P
// units, its partitions, named "X#i/P" (i = 0 … P-1): partition i applies
// the facts whose key hashes to i (FNV-1a of the key's parts, modulo P)
// and, of a fanout's facts (which every partition receives), only the
// keys of its own it reaches. A key lives in one partition, so its facts
// are folded in log order as before; keys never share rows, so the
// partitions' writes are disjoint. The projections that are not folds
// stay one unit each.
//
// Each partition has its own checkpoint row in
// projections.projection_checkpoints (partition_of = X, parts = P),
// moved in the transaction that writes its rows, and under a lease its
// own owner row: runners divide units, not projections. X's own row then
// holds where the partitions started from (parts = P); X stands where its
// slowest partition stands (see readCheckpoints).
//
// Every runner must use the same P. A runner that finds X divided into
// another number of partitions (or whole) first brings the existing
// partitions level, applying the lagging ones up to the furthest, then
// re-divides X from that common checkpoint in one transaction (see
// ensurePartitions): no event is applied twice and none skipped. A batch
// of a runner still using the old number finds its rows gone (or X's row
// saying it is partitioned) and fails with ErrPartitionsChanged; it
// retries, and re-divides back when it starts over: runners with
// different numbers keep re-dividing, safely but uselessly, so the
// number is a deployment-wide setting.
//
// A corp is parked (see Parking) in the projection, whichever partition
// met its event: the other partitions skip its events from their next
// batch on, so a partition that was ahead may have applied some of the
// corp's later events (until a rebuild, as for any parked corp).
//
// A rebuild moves X's row and every partition row of X to the rebuilt
// position (see movePartitions) in the swap transaction, which locks
// them all.

// MaxPartitions bounds Options.Partitions.
const MaxPartitions = 64

// ErrPartitionsChanged is returned by a batch whose partition rows are gone
// or whose projection is partitioned differently than the runner applies
// it: another runner re-divided it.
var ErrPartitionsChanged = errors.New("projections: projection divided into another number of partitions by another runner (every instance must use the same CUSTODY_PROJECTION_PARTITIONS)")

// partView is one partition of a fold projection: a Projection named
// after the partition whose Writer facts are those of its keys.
type partView struct {
	foldProjection
	name        string
	part, parts int
}

func (v partView) Name() string { return v.name }

// partName names partition i of n of the projection p.
func partName(p string, i, n int) string { return fmt.Sprintf("%s#%d/%d", p, i, n) }

// ProjectionOf returns the projection a unit (a projection or one of its
// partitions, as in Owned.Name and Owner.Projection) belongs to.
func ProjectionOf(unit string) string {
	p, _, _ := strings.Cut(unit, "#")
	return p
}

// keyPart returns the partition of n a fold key belongs to.
func keyPart(k foldKey, n int) int {
	h := fnv.New32a()
	for i, s := range k {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(s))
	}
	return int(h.Sum32() % uint32(n))
}

// partitioned reports whether p is applied in n partitions.
func partitioned(p Projection, n int) bool {
	_, ok := p.(foldProjection)
	return ok && n > 1
}

// unitsOf returns the units a runner applies ps in: each projection
// whole, or each fold projection's n partitions. Partitions are listed
// partition-major (every projection's partition 0, then the projections
// that are not partitioned, then every partition 1, …), so that runners
// dividing the list in order get a part of each projection.
func unitsOf(ps []Projection, n int) []Projection {
	var out []Projection
	for i := range max(n, 1) {
		for _, p := range ps {
			if fp, ok := p.(foldProjection); ok && n > 1 {
				out = append(out, partView{foldProjection: fp, name: partName(p.Name(), i, n), part: i, parts: n})
			}
		}
		if i == 0 {
			for _, p := range ps {
				if !partitioned(p, n) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// unitWeights are the units' shares of the work for a lease: a
// projection applied whole weighs n, each partition 1 (nil when n is 1:
// every unit is a projection).
func unitWeights(units []Projection, n int) map[string]int {
	if n <= 1 {
		return nil
	}
	w := map[string]int{}
	for _, u := range units {
		if _, ok := u.(partView); ok {
			w[u.Name()] = 1
		} else {
			w[u.Name()] = n
		}
	}
	return w
}

// projectionsOf returns the distinct projections of units, in order.
func projectionsOf(units []Projection) []Projection {
	var out []Projection
	seen := map[string]bool{}
	for _, u := range units {
		p := u
		if v, ok := u.(partView); ok {
			p = v.foldProjection
		}
		if !seen[p.Name()] {
			seen[p.Name()] = true
			out = append(out, p)
		}
	}
	return out
}

// ensurePartitions makes sure that every fold projection of ps is applied
// in n partitions (whole when n is 1), re-dividing those that are not
// (see Partitions above). A projection whose partitions are not level is
// first brought level by level (which applies the given units up to a
// position). It returns the projections it could not re-divide, with
// the reason; the others are ready.
func ensurePartitions(ctx context.Context, r *Runner, ps []Projection, n int, level func(ctx context.Context, units []Projection, to events.Position) error) error {
	var errs []error
	for _, p := range ps {
		fp, ok := p.(foldProjection)
		if !ok {
			continue
		}
		if err := ensurePartitionsOf(ctx, r, fp, n, level); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func ensurePartitionsOf(ctx context.Context, r *Runner, p foldProjection, n int, level func(ctx context.Context, units []Projection, to events.Position) error) error {
	name := p.Name()
	if ok, err := dividedAs(ctx, r.pool, name, n); err != nil || ok {
		return err
	}
	for {
		done := false
		var lagging []Projection
		var to events.Position
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, checkpointSelect+` WHERE name = $1 OR partition_of = $1 ORDER BY name FOR UPDATE`, name)
			if err != nil {
				return err
			}
			var base *Checkpoint
			parts := map[string]Checkpoint{}
			for rows.Next() {
				cp, err := scanCheckpoint(rows)
				if err != nil {
					rows.Close()
					return err
				}
				if cp.of == "" {
					base = &cp
				} else {
					parts[cp.Name] = cp
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if base == nil {
				return fmt.Errorf("%w: %s", ErrNotMigrated, name)
			}
			cur := base.Partitions
			var old []Checkpoint
			for i := range cur {
				if cp, ok := parts[partName(name, i, cur)]; ok && cur > 1 {
					old = append(old, cp)
				}
			}
			if cur > 1 && len(old) != cur {
				return fmt.Errorf("projections: %s is divided into %d partitions but %d of their checkpoint rows exist", name, cur, len(old))
			}
			if cur == n && len(parts) == len(old) {
				done = true
				return nil
			}
			// Where the partitions (or the whole projection) stand.
			at := *base
			if len(old) > 0 {
				lo, hi := old[0], old[0]
				for _, cp := range old {
					if cp.Position.Less(lo.Position) {
						lo = cp
					}
					if hi.Position.Less(cp.Position) {
						hi = cp
					}
				}
				if lo.Position != hi.Position {
					to = hi.Position
					for i, cp := range old {
						if cp.Position.Less(hi.Position) {
							lagging = append(lagging, partView{foldProjection: p, name: partName(name, i, cur), part: i, parts: cur})
						}
					}
					return nil
				}
				at.Position, at.LastRecordedAt, at.EventsApplied = hi.Position, hi.LastRecordedAt, base.EventsApplied+hi.EventsApplied
			}
			b := &pgx.Batch{}
			b.Queue(`DELETE FROM projections.projection_checkpoints WHERE partition_of = $1`, name)
			// The owner rows of partitions that are no more.
			keep := []string{}
			for i := range n {
				if n > 1 {
					keep = append(keep, partName(name, i, n))
				}
			}
			b.Queue(`DELETE FROM projections.projection_owners WHERE split_part(projection, '#', 1) = $1 AND projection <> $1
				AND NOT projection = ANY($2)`, name, keep)
			var last any
			if !at.LastRecordedAt.IsZero() {
				last = at.LastRecordedAt
			}
			b.Queue(`UPDATE projections.projection_checkpoints SET commit_pos = $2, prepare_pos = $3, last_recorded_at = $4,
					events_applied = $5, parts = $6, updated_at = now() WHERE name = $1`,
				name, int64(at.Position.Commit), int64(at.Position.Prepare), last, at.EventsApplied, n)
			if n > 1 {
				for i := range n {
					b.Queue(`INSERT INTO projections.projection_checkpoints
						(name, commit_pos, prepare_pos, schema_version, last_recorded_at, events_applied, parts, partition_of)
						VALUES ($1, $2, $3, $4, $5, 0, $6, $7)`,
						partName(name, i, n), int64(at.Position.Commit), int64(at.Position.Prepare), at.SchemaVersion, last, n, name)
				}
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			r.opts.Logger.Info("projections: projection re-divided", "projection", name, "from_partitions", cur, "partitions", n,
				"position", at.Position.String())
			return nil
		})
		if err != nil {
			return fmt.Errorf("projections: divide %s into %d partitions: %w", name, n, err)
		}
		if done || len(lagging) == 0 {
			return nil
		}
		r.opts.Logger.Info("projections: bringing the partitions of a projection level before re-dividing it",
			"projection", name, "lagging", len(lagging), "to", to.String())
		if err := level(ctx, lagging, to); err != nil {
			return fmt.Errorf("projections: level the partitions of %s: %w", name, err)
		}
	}
}

// dividedAs reports whether the projection name is applied in n
// partitions and has exactly their rows (without locking anything).
func dividedAs(ctx context.Context, q Querier, name string, n int) (bool, error) {
	var parts int
	var rows []string
	err := q.QueryRow(ctx, `SELECT parts, ARRAY(SELECT name FROM projections.projection_checkpoints WHERE partition_of = $1 ORDER BY name)
		FROM projections.projection_checkpoints WHERE name = $1`, name).Scan(&parts, &rows)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("%w: %s", ErrNotMigrated, name)
	}
	if err != nil {
		return false, fmt.Errorf("projections: read partitions of %s: %w", name, err)
	}
	if parts != n || (n > 1 && len(rows) != n) || (n == 1 && len(rows) != 0) {
		return false, nil
	}
	for i := range n {
		if n > 1 && !slices.Contains(rows, partName(name, i, n)) {
			return false, nil
		}
	}
	return true, nil
}

// movePartitions moves every partition row of the projection name to pos
// (after a rebuild, in its swap transaction, which holds their locks):
// they start over from the rebuilt tables.
func movePartitions(ctx context.Context, tx pgx.Tx, name string, pos events.Position, last any) error {
	if _, err := tx.Exec(ctx, `UPDATE projections.projection_checkpoints SET commit_pos = $2, prepare_pos = $3,
			last_recorded_at = $4, events_applied = 0, rebuilt_at = now(), updated_at = now()
		WHERE partition_of = $1`, name, int64(pos.Commit), int64(pos.Prepare), last); err != nil {
		return fmt.Errorf("projections: rebuild %s: move partition checkpoints: %w", name, err)
	}
	return nil
}

// aggregate returns where each projection of cps (those not partitions)
// stands: a partitioned one where its slowest partition stands, with the
// events its row counted before the partitions started added.
func aggregate(cps map[string]Checkpoint) {
	for name, base := range cps {
		if base.of != "" || base.Partitions <= 1 {
			continue
		}
		var slow *Checkpoint
		for i := range base.Partitions {
			cp, ok := cps[partName(name, i, base.Partitions)]
			if !ok {
				slow = nil
				break
			}
			if slow == nil || cp.Position.Less(slow.Position) {
				slow = &cp
			}
		}
		if slow == nil {
			continue
		}
		base.Position, base.LastRecordedAt = slow.Position, slow.LastRecordedAt
		base.EventsApplied += slow.EventsApplied
		cps[name] = base
	}
}
