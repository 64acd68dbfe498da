// Package pgcheckpoint keeps log followers' checkpoints in PostgreSQL, one
// row per follower name in follower_checkpoints. It implements
// commands.Checkpoint for the slot keeper; the event log itself may live
// elsewhere (KurrentDB), positions are stored as the log reports them.
package pgcheckpoint

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/custody/custody/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the checkpoint table, for pgmigrate (listed in
// cmd/custody/app.go).
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "pgcheckpoint", FS: migrations, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once. Safe to run from several processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// Store is the checkpoint of one named follower. Safe for concurrent use;
// several processes may share a name (each saving only forward).
type Store struct {
	pool *pgxpool.Pool
	name string
}

var _ commands.Checkpoint = (*Store)(nil)

// New returns the checkpoint called name on pool.
func New(pool *pgxpool.Pool, name string) (*Store, error) {
	switch {
	case pool == nil:
		return nil, errors.New("pgcheckpoint: nil pool")
	case name == "":
		return nil, errors.New("pgcheckpoint: empty name")
	}
	return &Store{pool: pool, name: name}, nil
}

// Load implements commands.Checkpoint: events.Start when nothing was saved.
func (s *Store) Load(ctx context.Context) (events.Position, error) {
	var commit, prepare int64
	err := s.pool.QueryRow(ctx,
		`SELECT commit_pos, prepare_pos FROM follower_checkpoints WHERE name = $1`, s.name).Scan(&commit, &prepare)
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Start, nil
	}
	if err != nil {
		return events.Start, fmt.Errorf("pgcheckpoint: load %q: %w", s.name, err)
	}
	return events.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, nil
}

// Save implements commands.Checkpoint. It never moves the checkpoint
// backwards, so a late save of a slower instance cannot undo a newer one.
func (s *Store) Save(ctx context.Context, pos events.Position) error {
	if pos.Commit > math.MaxInt64 || pos.Prepare > math.MaxInt64 {
		return fmt.Errorf("pgcheckpoint: position %s of %q does not fit bigint", pos, s.name)
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO follower_checkpoints AS c (name, commit_pos, prepare_pos, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (name) DO UPDATE
SET commit_pos = EXCLUDED.commit_pos, prepare_pos = EXCLUDED.prepare_pos, updated_at = now()
WHERE (c.commit_pos, c.prepare_pos) <= (EXCLUDED.commit_pos, EXCLUDED.prepare_pos)`,
		s.name, int64(pos.Commit), int64(pos.Prepare))
	if err != nil {
		return fmt.Errorf("pgcheckpoint: save %q: %w", s.name, err)
	}
	return nil
}

// MoveAll sets every follower's checkpoint to pos, for a switch to another
// event log (custody log rebind), and reports how many it moved. Unlike
// Save it may move a checkpoint backwards.
func MoveAll(ctx context.Context, pool *pgxpool.Pool, pos events.Position) (int, error) {
	if pos.Commit > math.MaxInt64 || pos.Prepare > math.MaxInt64 {
		return 0, fmt.Errorf("pgcheckpoint: position %s does not fit bigint", pos)
	}
	tag, err := pool.Exec(ctx, `UPDATE follower_checkpoints SET commit_pos = $1, prepare_pos = $2, updated_at = now()`,
		int64(pos.Commit), int64(pos.Prepare))
	if err != nil {
		return 0, fmt.Errorf("pgcheckpoint: move checkpoints to %s: %w", pos, err)
	}
	return int(tag.RowsAffected()), nil
}
