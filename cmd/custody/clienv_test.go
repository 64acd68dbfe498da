package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/pg/pglaunch"
	"github.com/custody/custody/events/eventlog"
)

// cliEnv is what a CLI test needs: a private PostgreSQL named by
// DATABASE_URL (as a user's shell would have it), a master key, the
// default event log, and — for seeding — the migrated pool and the log
// opened the way the subcommands open them.
type cliEnv struct {
	pool   *pgxpool.Pool
	log    eventlog.EventLog
	eraser eventlog.Eraser
}

// newCLIEnv starts a private server in a temporary directory, creates
// database db on it and sets the environment for the subcommands. The
// working directory is a fresh temporary one, so ./.data is the test's.
// Everything is stopped in t.Cleanup.
func newCLIEnv(t *testing.T, db string, masterKey byte) cliEnv {
	t.Helper()
	ctx := context.Background()
	t.Chdir(t.TempDir())
	inst, err := pglaunch.Start(ctx, pglaunch.Options{Dir: filepath.Join(t.TempDir(), "pg"), Ephemeral: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("private PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = inst.Stop() })
	dsn, err := ensureDatabase(ctx, inst.URL(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("CUSTODY_MASTER_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{masterKey}, 32)))
	t.Setenv("CUSTODY_EVENT_LOG", "")
	logger := slog.New(slog.DiscardHandler)
	pool, closePool, err := openPostgres(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closePool)
	if err := migrateAll(ctx, pool); err != nil {
		t.Fatal(err)
	}
	log, eraser, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeLog)
	return cliEnv{pool: pool, log: log, eraser: eraser}
}
