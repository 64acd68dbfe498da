package projections

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
)

// newPGLog returns a PostgreSQL event log in pool's database.
func newPGLog(t testing.TB, pool *pgxpool.Pool) *pgstore.Store {
	t.Helper()
	ctx := context.Background()
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	master := make([]byte, pii.KeySize)
	for i := range master {
		master[i] = byte(i)
	}
	k, err := pii.NewKeyring(master, pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: k, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLiveOnPostgresLog follows the PostgreSQL event log live while many
// writers append concurrently (commits land out of sequence order), then
// checks the live tables equal a from-scratch rebuild.
func TestLiveOnPostgresLog(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := newPGLog(t, pool)
	r, err := NewRunner(pool, log, Options{BatchSize: 1000, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	events := 15_000
	if testing.Short() {
		events = 3_000
	}
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: events, Writers: 8, Staff: 15, Customers: 150, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, pool, r, log)
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("runner: %v", err)
	}
	if n := assertEqualsCleanRebuild(t, pool, log, All()); n == 0 {
		t.Error("compared no rows")
	}
}
