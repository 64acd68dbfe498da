package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/internal/pgmigrate"
)

// Migrations are the pgmigrate components of the projections ps (listed in
// cmd/custody/app.go with All()): first "projections", the checkpoint and
// parked tables (sql/NNNN_*.sql), then one component per projection,
// "projections.<name>", whose steps are the projection's Migrations() with
// {s} set to LiveSchema (for the built-in projections, sql/<name>/NNN_*.sql).
//
// A projection's version also lives in its checkpoint row
// (schema_version): a rebuild swaps in tables made by every migration and
// sets it, and databases migrated before pgmigrate have only that. Each
// projection's component therefore adopts the versions schema_version
// says the tables have, and sets schema_version (creating the checkpoint
// row of a new projection at events.Start) after its migrations.
func Migrations(ps ...Projection) ([]pgmigrate.Component, error) {
	if err := checkNames(ps); err != nil {
		return nil, err
	}
	out := []pgmigrate.Component{{Name: "projections", FS: sqlFS, Dir: "sql"}}
	for _, p := range ps {
		out = append(out, component(p))
	}
	return out, nil
}

func component(p Projection) pgmigrate.Component {
	name := p.Name()
	files, _ := projectionFiles(name) // names for the record, when p's steps are those files
	steps := p.Migrations()
	ms := make([]pgmigrate.Migration, len(steps))
	for i, s := range steps {
		file := fmt.Sprintf("step %d", i+1)
		if i < len(files) && files[i].SQL == s {
			file = files[i].Name
		}
		ms[i] = pgmigrate.Migration{Version: i + 1, Name: file,
			SQL: strings.ReplaceAll(s, "{s}", pgx.Identifier{LiveSchema}.Sanitize())}
	}
	if ms == nil {
		ms = []pgmigrate.Migration{}
	}
	return pgmigrate.Component{
		Name:       "projections." + name,
		Migrations: ms,
		Adopt: func(ctx context.Context, tx pgx.Tx) (int, error) {
			var version int
			err := tx.QueryRow(ctx, `SELECT schema_version FROM projections.projection_checkpoints WHERE name = $1`, name).Scan(&version)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, nil
			}
			return version, err
		},
		After: func(ctx context.Context, tx pgx.Tx, version int) error {
			_, err := tx.Exec(ctx, `INSERT INTO projections.projection_checkpoints AS c (name, schema_version) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET schema_version = excluded.schema_version
				WHERE c.schema_version IS DISTINCT FROM excluded.schema_version`, name, version)
			return err
		},
	}
}

// Migrate creates or upgrades the tables of every projection in All() and
// the checkpoint table (the projections' part of `custody migrate`, which
// runs every component's at once).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return MigrateProjections(ctx, pool, All()...)
}

// MigrateProjections is Migrate for a chosen set of projections. A new
// projection starts with its checkpoint at events.Start.
func MigrateProjections(ctx context.Context, pool *pgxpool.Pool, ps ...Projection) error {
	cs, err := Migrations(ps...)
	if err != nil {
		return err
	}
	if _, err := pgmigrate.Run(ctx, pool, cs...); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	return nil
}

// applyMigrations runs steps in schema (a rebuild's shadow, a test's).
func applyMigrations(ctx context.Context, tx pgx.Tx, schema string, steps []string) error {
	for _, s := range steps {
		sql := strings.ReplaceAll(s, "{s}", pgx.Identifier{schema}.Sanitize())
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

func checkNames(ps []Projection) error {
	seen := map[string]bool{}
	var errs []error
	for _, p := range ps {
		n := p.Name()
		if n == "" || strings.ContainsFunc(n, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) {
			errs = append(errs, fmt.Errorf("projections: invalid projection name %q (want [a-z0-9_]+)", n))
		}
		if seen[n] {
			errs = append(errs, fmt.Errorf("projections: duplicate projection name %q", n))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}
