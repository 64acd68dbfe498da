package relay

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"

	"github.com/custody/custody/events"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockKey serialises concurrent Migrate calls (pg_advisory_xact_lock).
const migrateLockKey = 0x637573746f6479 // "custody"

// Migrate creates the relay's tables (relay_checkpoints) if they are
// missing. It is idempotent and safe to run from several processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("relay: list migrations: %w", err)
	}
	sort.Strings(names)
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("relay: migrate: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a committed tx ignores it
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext('relay'))`, int32(migrateLockKey&math.MaxInt32)); err != nil {
		return fmt.Errorf("relay: migrate lock: %w", err)
	}
	for _, n := range names {
		b, err := migrations.ReadFile(n)
		if err != nil {
			return fmt.Errorf("relay: read %s: %w", n, err)
		}
		if _, err := tx.Exec(ctx, string(b)); err != nil {
			return fmt.Errorf("relay: apply %s: %w", n, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("relay: migrate commit: %w", err)
	}
	return nil
}

// checkpoints reads and writes route checkpoints.
type checkpoints struct{ pool *pgxpool.Pool }

// load returns the route's checkpoint, events.Start when it has none.
func (c checkpoints) load(ctx context.Context, route string) (events.Position, error) {
	var commit, prepare int64
	err := c.pool.QueryRow(ctx,
		`SELECT commit_pos, prepare_pos FROM relay_checkpoints WHERE route = $1`, route).Scan(&commit, &prepare)
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Start, nil
	}
	if err != nil {
		return events.Start, fmt.Errorf("relay: load checkpoint of route %q: %w", route, err)
	}
	return events.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, nil
}

// save stores pos as the route's checkpoint. It never moves a checkpoint
// backwards, so a late save from a stopping run cannot undo a newer one.
func (c checkpoints) save(ctx context.Context, route string, pos events.Position, published int64) error {
	if pos.Commit > math.MaxInt64 || pos.Prepare > math.MaxInt64 {
		return fmt.Errorf("relay: checkpoint %s of route %q does not fit bigint", pos, route)
	}
	_, err := c.pool.Exec(ctx, `
INSERT INTO relay_checkpoints AS c (route, commit_pos, prepare_pos, published, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (route) DO UPDATE
SET commit_pos = EXCLUDED.commit_pos, prepare_pos = EXCLUDED.prepare_pos,
    published = c.published + EXCLUDED.published, updated_at = now()
WHERE (c.commit_pos, c.prepare_pos) <= (EXCLUDED.commit_pos, EXCLUDED.prepare_pos)`,
		route, int64(pos.Commit), int64(pos.Prepare), published)
	if err != nil {
		return fmt.Errorf("relay: save checkpoint of route %q: %w", route, err)
	}
	return nil
}

// Checkpoint returns the stored checkpoint of a route: every event up to and
// including it was acknowledged by the route's broker or filtered out.
func Checkpoint(ctx context.Context, pool *pgxpool.Pool, route string) (events.Position, error) {
	return checkpoints{pool}.load(ctx, route)
}
