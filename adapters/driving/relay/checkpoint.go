package relay

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/custody/custody/events"
	"github.com/custody/custody/internal/pgmigrate"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the relay's tables (relay_checkpoints, relay_owners), for pgmigrate
// (listed in cmd/custody/app.go). Version 1 was written with IF NOT EXISTS:
// databases where the relay created its table before pgmigrate are adopted
// by running it once.
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "relay", FS: migrations, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// checkpoints reads and writes route checkpoints.
type checkpoints struct{ pool *pgxpool.Pool }

// load returns the route's checkpoint, events.Start when it has none, and
// the positions after it that were published already.
func (c checkpoints) load(ctx context.Context, route string) (events.Position, []events.Position, error) {
	var commit, prepare int64
	var skip [][2]int64
	err := c.pool.QueryRow(ctx,
		`SELECT commit_pos, prepare_pos, skip FROM relay_checkpoints WHERE route = $1`, route).Scan(&commit, &prepare, &skip)
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Start, nil, nil
	}
	if err != nil {
		return events.Start, nil, fmt.Errorf("relay: load checkpoint of route %q: %w", route, err)
	}
	out := make([]events.Position, 0, len(skip))
	for _, p := range skip {
		if p[0] >= 0 && p[1] >= 0 {
			out = append(out, events.Position{Commit: uint64(p[0]), Prepare: uint64(p[1])})
		}
	}
	return events.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, out, nil
}

// save stores pos as the route's checkpoint, with the positions after it
// that were published already. It never moves a checkpoint backwards, so
// a late save from a stopping run cannot undo a newer one.
func (c checkpoints) save(ctx context.Context, route string, pos events.Position, published int64, skip []events.Position) error {
	if pos.Commit > math.MaxInt64 || pos.Prepare > math.MaxInt64 {
		return fmt.Errorf("relay: checkpoint %s of route %q does not fit bigint", pos, route)
	}
	pairs := make([][2]int64, 0, len(skip))
	for _, p := range skip {
		if p.Commit <= math.MaxInt64 && p.Prepare <= math.MaxInt64 {
			pairs = append(pairs, [2]int64{int64(p.Commit), int64(p.Prepare)})
		}
	}
	_, err := c.pool.Exec(ctx, `
INSERT INTO relay_checkpoints AS c (route, commit_pos, prepare_pos, published, skip, updated_at)
VALUES ($1, $2, $3, $4, $5, now())
ON CONFLICT (route) DO UPDATE
SET commit_pos = EXCLUDED.commit_pos, prepare_pos = EXCLUDED.prepare_pos,
    published = c.published + EXCLUDED.published, skip = EXCLUDED.skip, updated_at = now()
WHERE (c.commit_pos, c.prepare_pos) <= (EXCLUDED.commit_pos, EXCLUDED.prepare_pos)`,
		route, int64(pos.Commit), int64(pos.Prepare), published, pairs)
	if err != nil {
		return fmt.Errorf("relay: save checkpoint of route %q: %w", route, err)
	}
	return nil
}

// previous reports whether the route's last owner released it (or there
// was none), who it was and its epoch (0 for none).
func (c checkpoints) previous(ctx context.Context, route string) (released bool, instance string, epoch int64, err error) {
	err = c.pool.QueryRow(ctx, `SELECT released, instance, epoch FROM relay_owners WHERE route = $1`, route).Scan(&released, &instance, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, "", 0, nil
	}
	if err != nil {
		return false, "", 0, fmt.Errorf("relay: owner of route %q: %w", route, err)
	}
	return released, instance, epoch, nil
}

// own records that instance owns route from now on, under a new epoch,
// provided the route's owner is still the one of epoch seen (0: none) that
// the caller waited for; ok is false when another instance took the route
// over since (its lock connection lost, the caller's lock came while the
// other was taking over), and the caller must wait for that owner's
// handoff instead.
func (c checkpoints) own(ctx context.Context, route, instance string, seen int64) (epoch int64, ok bool, err error) {
	err = c.pool.QueryRow(ctx, `
INSERT INTO relay_owners AS o (route, instance, since, epoch, released) VALUES ($1, $2, now(), 1, false)
ON CONFLICT (route) DO UPDATE SET instance = EXCLUDED.instance, since = EXCLUDED.since,
    epoch = o.epoch + 1, released = false
    WHERE o.epoch = $3
RETURNING epoch`, route, instance, seen).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("relay: record owner of route %q: %w", route, err)
	}
	return epoch, true, nil
}

// release records that the owner of epoch stopped publishing route and
// saved its checkpoint.
func (c checkpoints) release(ctx context.Context, route string, epoch int64) error {
	if _, err := c.pool.Exec(ctx, `UPDATE relay_owners SET released = true WHERE route = $1 AND epoch = $2`, route, epoch); err != nil {
		return fmt.Errorf("relay: release route %q: %w", route, err)
	}
	return nil
}

// Owner is the instance that took a route over last, when, and whether it
// has released it since.
type Owner struct {
	Route, Instance string
	Since           time.Time
	Epoch           int64
	Released        bool
}

// Owners lists the routes' latest owners (Options.Instance names), by route.
func Owners(ctx context.Context, pool *pgxpool.Pool) ([]Owner, error) {
	rows, err := pool.Query(ctx, `SELECT route, instance, since, epoch, released FROM relay_owners ORDER BY route`)
	if err != nil {
		return nil, fmt.Errorf("relay: owners: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Owner, error) {
		var o Owner
		err := r.Scan(&o.Route, &o.Instance, &o.Since, &o.Epoch, &o.Released)
		return o, err
	})
}

// RouteState is a route as the database knows it: its checkpoint and who
// owns it. Instance is empty for a route no instance has taken over yet.
type RouteState struct {
	Route      string
	Checkpoint events.Position
	Published  int64     // events published, re-publishes after a crash counted again
	UpdatedAt  time.Time // last checkpoint save
	Owner
}

// Routes lists every route that has a checkpoint or an owner, by name.
func Routes(ctx context.Context, pool *pgxpool.Pool) ([]RouteState, error) {
	rows, err := pool.Query(ctx, `
SELECT coalesce(c.route, o.route), coalesce(c.commit_pos, 0), coalesce(c.prepare_pos, 0), coalesce(c.published, 0),
       coalesce(c.updated_at, 'epoch'), coalesce(o.instance, ''), coalesce(o.since, 'epoch'), coalesce(o.epoch, 0), coalesce(o.released, true)
FROM relay_checkpoints c FULL JOIN relay_owners o ON o.route = c.route
ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("relay: routes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RouteState, error) {
		var st RouteState
		var commit, prepare int64
		err := r.Scan(&st.Route, &commit, &prepare, &st.Published, &st.UpdatedAt, &st.Instance, &st.Since, &st.Epoch, &st.Released)
		st.Owner.Route = st.Route
		st.Checkpoint = events.Position{Commit: uint64(max(commit, 0)), Prepare: uint64(max(prepare, 0))}
		return st, err
	})
}

// Checkpoint returns the stored checkpoint of a route: every event up to and
// including it was acknowledged by the route's broker or filtered out.
func Checkpoint(ctx context.Context, pool *pgxpool.Pool, route string) (events.Position, error) {
	pos, _, err := checkpoints{pool}.load(ctx, route)
	return pos, err
}

// ErrRouteRunning: a route's advisory lock is held, so an instance is
// publishing it.
var ErrRouteRunning = errors.New("relay: a route is running")

// MoveCheckpoints sets every route's checkpoint to pos (forgetting the
// positions published after it), for a switch to another event log
// (custody log rebind): events.Start republishes the new log from its
// start, its head publishes only what comes next. It refuses, changing
// nothing, while any route is held by a running instance (its advisory
// lock), and reports how many routes it moved.
func MoveCheckpoints(ctx context.Context, pool *pgxpool.Pool, pos events.Position) (int, error) {
	if pos.Commit > math.MaxInt64 || pos.Prepare > math.MaxInt64 {
		return 0, fmt.Errorf("relay: position %s does not fit bigint", pos)
	}
	var n int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var held []string
		rows, err := tx.Query(ctx, `
SELECT c.route FROM relay_checkpoints c
WHERE NOT pg_try_advisory_xact_lock(hashtext('custody.relay'), hashtext(c.route))
ORDER BY 1`)
		if err != nil {
			return err
		}
		if held, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if len(held) > 0 {
			return fmt.Errorf("%w: %v held by a custody serve; stop every instance first", ErrRouteRunning, held)
		}
		tag, err := tx.Exec(ctx, `UPDATE relay_checkpoints SET commit_pos = $1, prepare_pos = $2, skip = '[]', updated_at = now()`,
			int64(pos.Commit), int64(pos.Prepare))
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		if errors.Is(err, ErrRouteRunning) {
			return 0, err
		}
		return 0, fmt.Errorf("relay: move checkpoints to %s: %w", pos, err)
	}
	return n, nil
}
