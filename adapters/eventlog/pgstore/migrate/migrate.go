// Package migrate applies a component's embedded SQL migrations to
// PostgreSQL, once each, in order, safely when many processes migrate at
// the same time.
//
// Migrations are files named NNNN_description.sql (NNNN a positive number)
// in an fs.FS, usually an embed.FS. Applied ones are recorded in the
// schema_migrations table as (component, version); a file is never applied
// twice and never edited once released — a change is a new file.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockKey is the advisory lock every custody migrator takes, so concurrent
// migrators (several instances starting at once) run one after another and
// the later ones find everything applied.
const lockKey int64 = 0x637573746f6479 // "custody"

// ErrBadName: a migration file's name does not follow NNNN_description.sql,
// or two files share a number.
var ErrBadName = errors.New("migrate: bad migration file name")

// Migration is one SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the *.sql files in dir of fsys, sorted by version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%w: %s", ErrBadName, e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("%w: %s and %s share version %d", ErrBadName, other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Apply applies the migrations of component that are not applied yet, all
// in one transaction under the advisory lock: either every pending one is
// applied or none.
func Apply(ctx context.Context, pool *pgxpool.Pool, component string, ms []Migration) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", component, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  text        NOT NULL,
		version    integer     NOT NULL,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("migrate %s: schema_migrations: %w", component, err)
	}
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations WHERE component = $1", component)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	done := map[int]bool{}
	for _, v := range applied {
		done[int(v)] = true
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		// Simple protocol: a file may hold several statements.
		if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", component, m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
			component, m.Version, m.Name); err != nil {
			return fmt.Errorf("migrate %s: record %s: %w", component, m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", component, err)
	}
	return nil
}

// FS loads the migrations in dir of fsys and applies them for component.
func FS(ctx context.Context, pool *pgxpool.Pool, component string, fsys fs.FS, dir string) error {
	ms, err := Load(fsys, dir)
	if err != nil {
		return err
	}
	return Apply(ctx, pool, component, ms)
}
