package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/pg/pglaunch"
	"github.com/custody/custody/adapters/tools/erasure"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/internal/pgmigrate"
)

// privateDataDir is where the private PostgreSQL keeps its data when
// DATABASE_URL is unset.
const privateDataDir = "./.data/pg"

// privateDatabase is the database custody uses on the private server.
const privateDatabase = "custody"

// defaultMaxConns is the pool size when DATABASE_URL does not set
// pool_max_conns: pgxpool's default (max(4, CPUs)) is too small for the
// service's projectors, relay, subscribers and requests together.
const defaultMaxConns = 16

// eventLogOpener opens an event log other than PostgreSQL from its
// CUSTODY_EVENT_LOG URL (see eventLogOpeners in app.go).
type eventLogOpener func(ctx context.Context, url string, pool *pgxpool.Pool, keyring *pii.Keyring, logger *slog.Logger) (eventlog.EventLog, eventlog.Eraser, func(), error)

// openPostgres connects to DATABASE_URL, or, when it is unset, starts the
// private PostgreSQL server in ./.data/pg (created on first use) and
// connects to its "custody" database. cleanup closes the pool and stops a
// server it started.
func openPostgres(ctx context.Context, logger *slog.Logger) (pool *pgxpool.Pool, cleanup func(), err error) {
	if logger == nil {
		logger = slog.Default()
	}
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		pool, err := newPool(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		return pool, pool.Close, nil
	}
	logger.Info("DATABASE_URL is not set: starting the private PostgreSQL", "dir", privateDataDir)
	inst, err := pglaunch.Start(ctx, pglaunch.Options{Dir: privateDataDir, Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("private PostgreSQL (or set DATABASE_URL): %w", err)
	}
	stop := func() {
		if err := inst.Stop(); err != nil {
			logger.Error("stop the private PostgreSQL", "err", err)
		}
	}
	dsn, err := ensureDatabase(ctx, inst.URL(), privateDatabase)
	if err != nil {
		stop()
		return nil, nil, err
	}
	pool, err = newPool(ctx, dsn)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return pool, func() { pool.Close(); stop() }, nil
}

func newPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", redactURL(dsn), err)
	}
	return pool, nil
}

// ensureDatabase creates database name on the server of serverURL unless
// it exists, and returns its URL.
func ensureDatabase(ctx context.Context, serverURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", fmt.Errorf("connect to the private PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("private PostgreSQL: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("private PostgreSQL: create database %s: %w", name, err)
		}
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("private PostgreSQL URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// openKeyring returns the keyring sealing personal data: data keys in
// pool's pii_keys table (migrated here), wrapped under CUSTODY_MASTER_KEY
// or, when that is unset, a development key in ./.data/master.key.
func openKeyring(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*pii.Keyring, error) {
	master, err := pii.LoadMasterKey(logger)
	if err != nil {
		return nil, err
	}
	if err := pii.Migrate(ctx, pool); err != nil {
		return nil, err
	}
	return pii.NewKeyring(master, pii.NewPostgresKeyStore(pool), pii.Options{})
}

// openEventLog opens the event log CUSTODY_EVENT_LOG names: empty or
// "postgres" is the log in pool's database; a postgres:// URL is a log in
// another PostgreSQL database; any other scheme goes to eventLogOpeners.
// PostgreSQL logs are migrated on open, so a fresh database just works.
// cleanup releases what the log holds (not pool).
//
// The eraser it returns also blanks the erased subject's personal data in
// every projection, rebuild and replay schema of pool (erasure.Scrubbing).
func openEventLog(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (log eventlog.EventLog, eraser eventlog.Eraser, cleanup func(), err error) {
	log, eraser, cleanup, err = openEventLogOnly(ctx, pool, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	return log, erasure.Scrubbing{KeyEraser: eraser, DB: pool}, cleanup, nil
}

func openEventLogOnly(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (log eventlog.EventLog, eraser eventlog.Eraser, cleanup func(), err error) {
	if logger == nil {
		logger = slog.Default()
	}
	keyring, err := openKeyring(ctx, pool, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	target := os.Getenv("CUSTODY_EVENT_LOG")
	switch {
	case target == "" || target == "postgres":
		s, err := openPGStore(ctx, pool, keyring, logger)
		if err != nil {
			return nil, nil, nil, err
		}
		return s, s, func() {}, nil
	}
	scheme, _, ok := strings.Cut(target, "://")
	if !ok {
		return nil, nil, nil, fmt.Errorf("CUSTODY_EVENT_LOG %q: want \"postgres\" or a URL (%s)", target, knownSchemes())
	}
	if scheme == "postgres" || scheme == "postgresql" {
		other, err := newPool(ctx, target)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("CUSTODY_EVENT_LOG: %w", err)
		}
		s, err := openPGStore(ctx, other, keyring, logger)
		if err != nil {
			other.Close()
			return nil, nil, nil, err
		}
		return s, s, other.Close, nil
	}
	open, ok := eventLogOpeners[scheme]
	if !ok {
		return nil, nil, nil, fmt.Errorf("CUSTODY_EVENT_LOG: unknown scheme %q (%s)", scheme, knownSchemes())
	}
	return open(ctx, target, pool, keyring, logger)
}

func openPGStore(ctx context.Context, pool *pgxpool.Pool, keyring *pii.Keyring, logger *slog.Logger) (*pgstore.Store, error) {
	s, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring, Logger: logger})
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	return s, nil
}

// migrateAll applies every component's pending migrations (app.go's
// migrationComponents) to pool, in one transaction under pgmigrate's
// advisory lock, and returns what it applied.
func migrateAll(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := migrateAllReport(ctx, pool)
	return err
}

func migrateAllReport(ctx context.Context, pool *pgxpool.Pool) ([]pgmigrate.Applied, error) {
	cs, err := migrationComponents()
	if err != nil {
		return nil, err
	}
	return pgmigrate.Run(ctx, pool, cs...)
}

func knownSchemes() string {
	names := []string{"postgres"}
	for s := range eventLogOpeners {
		names = append(names, s)
	}
	sort.Strings(names[1:])
	return "known: " + strings.Join(names, ", ")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// openPostgresAndLog opens what most subcommands need: the PostgreSQL pool
// (see openPostgres) and the event log on it (see openEventLog). cleanup
// closes both, the log first.
func openPostgresAndLog(ctx context.Context, logger *slog.Logger) (pool *pgxpool.Pool, log eventlog.EventLog, cleanup func(), err error) {
	pool, closePool, err := openPostgres(ctx, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	log, _, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		closePool()
		return nil, nil, nil, err
	}
	return pool, log, func() { closeLog(); closePool() }, nil
}
