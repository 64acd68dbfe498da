package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// checkpointDDL creates the checkpoint table and the table of parked corps
// (see parking.go). They belong to the package, not to one projection, and
// are never swapped by a rebuild.
const checkpointDDL = `
CREATE SCHEMA IF NOT EXISTS projections;
CREATE TABLE IF NOT EXISTS projections.projection_checkpoints (
	name             text        PRIMARY KEY,
	commit_pos       bigint      NOT NULL DEFAULT 0,
	prepare_pos      bigint      NOT NULL DEFAULT 0,
	schema_version   int         NOT NULL DEFAULT 0,
	last_recorded_at timestamptz,
	events_applied   bigint      NOT NULL DEFAULT 0,
	updated_at       timestamptz NOT NULL DEFAULT now(),
	rebuilt_at       timestamptz
);
CREATE TABLE IF NOT EXISTS projections.parked (
	projection  text        NOT NULL,
	corp_id     text        NOT NULL,
	commit_pos  bigint      NOT NULL,
	prepare_pos bigint      NOT NULL,
	event_id    uuid        NOT NULL,
	event_type  text        NOT NULL,
	stream      text        NOT NULL,
	reason      text        NOT NULL,
	parked_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (projection, corp_id)
);`

// migrateLockKey serialises concurrent Migrate calls (several custody
// instances starting at once).
const migrateLockKey = 0x637573746f647901 // "custody\x01"

// Migrate creates or upgrades the tables of every projection in All() and
// the checkpoint table. It is idempotent and safe to run from several
// processes at once. `custody migrate` calls it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return MigrateProjections(ctx, pool, All()...)
}

// MigrateProjections is Migrate for a chosen set of projections. A new
// projection starts with its checkpoint at events.Start.
func MigrateProjections(ctx context.Context, pool *pgxpool.Pool, ps ...Projection) error {
	if err := checkNames(ps); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
			return fmt.Errorf("projections: migrate lock: %w", err)
		}
		if _, err := tx.Exec(ctx, checkpointDDL); err != nil {
			return fmt.Errorf("projections: create checkpoint table: %w", err)
		}
		for _, p := range ps {
			var version int
			err := tx.QueryRow(ctx, `SELECT schema_version FROM projections.projection_checkpoints WHERE name = $1`, p.Name()).Scan(&version)
			if errors.Is(err, pgx.ErrNoRows) {
				version = 0
				_, err = tx.Exec(ctx, `INSERT INTO projections.projection_checkpoints (name) VALUES ($1)`, p.Name())
			}
			if err != nil {
				return fmt.Errorf("projections: migrate %s: %w", p.Name(), err)
			}
			ms := p.Migrations()
			if version > len(ms) {
				return fmt.Errorf("projections: migrate %s: database is at schema version %d, this build knows %d", p.Name(), version, len(ms))
			}
			if err := applyMigrations(ctx, tx, LiveSchema, ms[version:]); err != nil {
				return fmt.Errorf("projections: migrate %s: %w", p.Name(), err)
			}
			if _, err := tx.Exec(ctx, `UPDATE projections.projection_checkpoints SET schema_version = $2 WHERE name = $1`, p.Name(), len(ms)); err != nil {
				return fmt.Errorf("projections: migrate %s: %w", p.Name(), err)
			}
		}
		return nil
	})
}

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
