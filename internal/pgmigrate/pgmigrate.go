// Package pgmigrate is custody's one migration runner: every component
// that keeps tables in PostgreSQL (the event log, the keyring, the
// projections, the HTTP API, the relay, the WeCom adapters, the tools)
// declares its migrations as a Component, and the composition root
// (cmd/custody/app.go) lists the components in the order they run and
// hands the list to Run. See CONTRIBUTING.md for how to add a migration.
//
// A component's migrations are SQL files named NNNN_description.sql in an
// embedded directory, numbered 1, 2, 3, … without gaps: the number is the
// version, and versions run in numeric order. Applied versions are
// recorded in one table, schema_migrations (component, version, name,
// applied_at). A released file is never edited; a change is a new file.
//
// Run takes one transaction-scoped advisory lock, so any number of custody
// processes may start on one database at once: the first applies what is
// pending, the others wait for it and then find nothing to do. Everything
// pending, across every component, is applied in that one transaction:
// either all of it is, or nothing is.
//
// Why a runner of our own rather than jackc/tern, pressly/goose or
// golang-migrate: those keep one linear version per version table, while
// custody has a dozen components that are versioned independently (and
// may be developed in parallel), and projections apply the same files to
// a shadow schema during a rebuild and keep their version in their
// checkpoint row. Fitting that into one of them means one version table
// per component (no single record, one lock per table), or renumbering
// every component into one global sequence. The runner is ~200 lines on
// pgx, which custody already uses; it is also the runner the event log
// used before (same table, same lock key), so databases it migrated are
// recognised as they are.
package pgmigrate

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

// LockKey is the transaction-scoped advisory lock Run holds while it
// migrates. It is the key the event log's runner took before every
// component moved here, so a process of an older release migrating at the
// same time waits too.
const LockKey int64 = 0x637573746f6479 // "custody"

// ErrBadMigration: a component's migrations are malformed (a file name
// not NNNN_description.sql, a duplicate or missing version, a duplicate
// component), reported before the database is touched.
var ErrBadMigration = errors.New("pgmigrate: bad migration")

// ErrNewerDatabase: the database has versions of a component this build
// does not know (it was migrated by a newer release).
var ErrNewerDatabase = errors.New("pgmigrate: database migrated by a newer release")

// Migration is one versioned SQL step of a component.
type Migration struct {
	Version int
	Name    string // the file name, e.g. 0002_refresh.sql
	SQL     string // may hold several statements
}

// Component is the migrations of one part of custody.
type Component struct {
	// Name identifies the component in schema_migrations. Never renamed.
	Name string
	// FS and Dir hold the component's NNNN_description.sql files
	// (usually an embed.FS). Ignored when Migrations is set.
	FS  fs.FS
	Dir string
	// Migrations, when set, are the component's steps, versions 1..n, in
	// place of files (projections build theirs from each projection).
	Migrations []Migration
	// Adopt, when set, runs in Run's transaction before the component's
	// migrations and returns how many of its versions (1..n) the database
	// already has by other means than this runner: an older mechanism that
	// did not record them in schema_migrations, or (projections) a rebuild
	// that swapped in tables made by every migration. Those of them not
	// recorded yet are recorded as applied, without running them.
	Adopt func(ctx context.Context, tx pgx.Tx) (int, error)
	// After, when set, runs in Run's transaction after the component's
	// pending migrations (also when none was pending) with the version the
	// component is now at. Projections keep their checkpoint row there.
	After func(ctx context.Context, tx pgx.Tx, version int) error
}

// Applied is one migration Run applied or adopted.
type Applied struct {
	Component string
	Version   int
	Name      string
	// Adopted: the database had it already (Component.Adopt); it was
	// recorded, not run.
	Adopted bool
}

func (a Applied) String() string {
	s := fmt.Sprintf("%s %d %s", a.Component, a.Version, a.Name)
	if a.Adopted {
		s += " (adopted: already present)"
	}
	return s
}

// Load reads the NNNN_description.sql files of dir in fsys, sorted by
// version, and checks that the versions are 1, 2, …, n. Other files are
// ignored.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMigration, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || rest == ".sql" {
			return nil, fmt.Errorf("%w: %s/%s: want NNNN_description.sql", ErrBadMigration, dir, e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadMigration, err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	if err := checkVersions(dir, out); err != nil {
		return nil, err
	}
	return out, nil
}

func checkVersions(where string, ms []Migration) error {
	for i, m := range ms {
		if m.Version != i+1 {
			if i > 0 && m.Version == ms[i-1].Version {
				return fmt.Errorf("%w: %s: %s and %s share version %d", ErrBadMigration, where, ms[i-1].Name, m.Name, m.Version)
			}
			return fmt.Errorf("%w: %s: %s has version %d, want %d (versions run 1, 2, … without gaps)", ErrBadMigration, where, m.Name, m.Version, i+1)
		}
	}
	return nil
}

// load returns c's migrations, checked.
func (c Component) load() ([]Migration, error) {
	if c.Migrations != nil {
		if err := checkVersions(c.Name, c.Migrations); err != nil {
			return nil, err
		}
		return c.Migrations, nil
	}
	if c.FS == nil {
		return nil, nil
	}
	return Load(c.FS, c.Dir)
}

// Plan loads and checks every component's migrations without touching a
// database.
func Plan(cs []Component) ([][]Migration, error) {
	seen := map[string]bool{}
	out := make([][]Migration, len(cs))
	var errs []error
	for i, c := range cs {
		if c.Name == "" || strings.TrimSpace(c.Name) != c.Name {
			errs = append(errs, fmt.Errorf("%w: component name %q", ErrBadMigration, c.Name))
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("%w: component %q listed twice", ErrBadMigration, c.Name))
		}
		seen[c.Name] = true
		ms, err := c.load()
		if err != nil {
			errs = append(errs, fmt.Errorf("component %s: %w", c.Name, err))
		}
		out[i] = ms
	}
	return out, errors.Join(errs...)
}

// Run applies the pending migrations of cs, in the order of cs and of
// versions, in one transaction under LockKey, and returns what it applied.
// A malformed component is reported before anything is touched; a failing
// migration rolls everything back.
func Run(ctx context.Context, pool *pgxpool.Pool, cs ...Component) ([]Applied, error) {
	plan, err := Plan(cs)
	if err != nil {
		return nil, err
	}
	var applied []Applied
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		applied = applied[:0]
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", LockKey); err != nil {
			return fmt.Errorf("pgmigrate: lock: %w", err)
		}
		// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS
		// can fail on the catalog's unique index.
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			component  text        NOT NULL,
			version    integer     NOT NULL,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (component, version))`); err != nil {
			return fmt.Errorf("pgmigrate: schema_migrations: %w", err)
		}
		rows, err := tx.Query(ctx, "SELECT component, version FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		done := map[string]map[int]bool{}
		var comp string
		var version int32
		_, err = pgx.ForEachRow(rows, []any{&comp, &version}, func() error {
			if done[comp] == nil {
				done[comp] = map[int]bool{}
			}
			done[comp][int(version)] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("pgmigrate: %w", err)
		}
		for i, c := range cs {
			a, err := runComponent(ctx, tx, c, plan[i], done[c.Name])
			if err != nil {
				return err
			}
			applied = append(applied, a...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

func runComponent(ctx context.Context, tx pgx.Tx, c Component, ms []Migration, done map[int]bool) ([]Applied, error) {
	for v := range done {
		if v > len(ms) {
			return nil, fmt.Errorf("%w: component %s is at version %d, this build knows %d", ErrNewerDatabase, c.Name, v, len(ms))
		}
	}
	var out []Applied
	record := func(m Migration, adopted bool) error {
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
			c.Name, m.Version, m.Name); err != nil {
			return fmt.Errorf("pgmigrate: %s: record %s: %w", c.Name, m.Name, err)
		}
		out = append(out, Applied{Component: c.Name, Version: m.Version, Name: m.Name, Adopted: adopted})
		return nil
	}
	if c.Adopt != nil {
		n, err := c.Adopt(ctx, tx)
		if err != nil {
			return nil, fmt.Errorf("pgmigrate: %s: adopt: %w", c.Name, err)
		}
		if n > len(ms) {
			return nil, fmt.Errorf("%w: component %s is at version %d, this build knows %d", ErrNewerDatabase, c.Name, n, len(ms))
		}
		if done == nil {
			done = map[int]bool{}
		}
		for _, m := range ms[:max(n, 0)] {
			if done[m.Version] {
				continue
			}
			if err := record(m, true); err != nil {
				return nil, err
			}
			done[m.Version] = true
		}
	}
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return nil, fmt.Errorf("pgmigrate: %s: %s: %w", c.Name, m.Name, err)
		}
		if err := record(m, false); err != nil {
			return nil, err
		}
	}
	if c.After != nil {
		if err := c.After(ctx, tx, len(ms)); err != nil {
			return nil, fmt.Errorf("pgmigrate: %s: %w", c.Name, err)
		}
	}
	return out, nil
}
