package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestOpenWithoutConfiguration is `make run` on a fresh machine: no
// DATABASE_URL, no master key, no event log setting. The private server
// starts under ./.data/pg, a development key appears in ./.data/master.key
// (0600), and the log works; a second start reuses both.
func TestOpenWithoutConfiguration(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CUSTODY_MASTER_KEY", "")
	t.Setenv("CUSTODY_EVENT_LOG", "")
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)

	var pos events.Position
	for round := range 2 {
		pool, cleanup, err := openPostgres(ctx, logger)
		if err != nil {
			t.Fatalf("round %d: open postgres: %v", round, err)
		}
		log, eraser, closeLog, err := openEventLog(ctx, pool, logger)
		if err != nil {
			cleanup()
			t.Fatalf("round %d: open event log: %v", round, err)
		}
		if eraser == nil {
			t.Fatal("no eraser")
		}
		e := events.Event{ID: uuid.Must(uuid.NewV7()), Type: "test.happened", SchemaVersion: 1, CorpID: "c",
			Data: []byte(`{}`), PII: []byte(`{"name":"x"}`), Subject: "customer/c/1"}
		res, err := log.Append(ctx, "s", eventlog.ExpectAny, e)
		if err != nil {
			t.Fatalf("round %d: append: %v", round, err)
		}
		recs, err := log.ReadStream(ctx, "s", 0)
		if err != nil || len(recs) != round+1 {
			t.Fatalf("round %d: read %d events (err %v), want %d", round, len(recs), err, round+1)
		}
		// Personal data sealed in the first run opens in the second: same
		// key file, same database.
		if string(recs[0].PII) != `{"name": "x"}` && string(recs[0].PII) != `{"name":"x"}` {
			t.Fatalf("round %d: personal data %q", round, recs[0].PII)
		}
		if round == 1 && !pos.Less(res.Events[0].Position) {
			t.Fatalf("second run's event at %v, not after %v", res.Events[0].Position, pos)
		}
		pos = res.Events[0].Position
		if err := migrateAll(ctx, pool); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		closeLog()
		cleanup()
	}
	fi, err := os.Stat(".data/master.key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != pii.KeySize {
		t.Fatalf("master key file mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), pii.KeySize)
	}
}

func TestOpenEventLogSchemes(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CUSTODY_MASTER_KEY", "")
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	pool, cleanup, err := openPostgres(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()

	var gotURL string
	var gotKeyring *pii.Keyring
	eventLogOpeners["fake"] = func(ctx context.Context, url string, pool *pgxpool.Pool, keyring *pii.Keyring, logger *slog.Logger) (eventlog.EventLog, eventlog.Eraser, func(), error) {
		gotURL, gotKeyring = url, keyring
		l := memlog.New(memlog.WithKeyring(keyring))
		return l, l, func() {}, nil
	}
	defer delete(eventLogOpeners, "fake")

	t.Setenv("CUSTODY_EVENT_LOG", "fake://somewhere:1113")
	log, _, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		t.Fatal(err)
	}
	closeLog()
	if _, ok := log.(*memlog.Log); !ok || gotURL != "fake://somewhere:1113" || gotKeyring == nil {
		t.Fatalf("opener not used as registered: %T %q %v", log, gotURL, gotKeyring)
	}

	t.Setenv("CUSTODY_EVENT_LOG", "nosuch://x")
	_, _, _, err = openEventLog(ctx, pool, logger)
	if err == nil || !strings.Contains(err.Error(), "fake") || !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("unknown scheme: err %v, want one listing the known schemes", err)
	}

	t.Setenv("CUSTODY_MASTER_KEY", "dG9vIHNob3J0")
	t.Setenv("CUSTODY_EVENT_LOG", "")
	if _, _, _, err = openEventLog(ctx, pool, logger); !errors.Is(err, pii.ErrBadMasterKey) {
		t.Fatalf("short master key: err %v, want ErrBadMasterKey", err)
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CUSTODY_EVENT_LOG", "")
	ctx := context.Background()
	if err := runMigrate(ctx, []string{"unexpected"}); !errors.Is(err, errUsage) {
		t.Fatalf("migrate with an argument: err %v, want a usage error", err)
	}
	for range 2 {
		if err := runMigrate(ctx, nil); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	pool, cleanup, err := openPostgres(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var components []string
	rows, err := pool.Query(ctx, `SELECT DISTINCT component FROM schema_migrations ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		components = append(components, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(components, ",")
	if !strings.Contains(joined, "pgstore") || !strings.Contains(joined, "pii") {
		t.Fatalf("migrated components %v, want pgstore and pii among them", components)
	}
}
