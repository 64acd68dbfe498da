package relay

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"

	"github.com/custody/custody/events"
	"github.com/custody/custody/internal/pgmigrate"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the relay's tables (relay_checkpoints), for pgmigrate
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
