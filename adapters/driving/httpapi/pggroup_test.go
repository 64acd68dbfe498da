package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/testkit/pgtest"
)

// groupQueued holds a group in flight (a statement waiting for an advisory
// lock a transaction holds), runs every statement of stmts concurrently
// behind it, waits until they are all queued, releases the lock and waits
// for them: they are sent as one group. It returns each statement's error.
func groupQueued(t *testing.T, pool *pgxpool.Pool, g *pgGroup, stmts []string) []error {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(4242)`); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		blocked <- g.query(ctx, func(pgx.Rows) error { return nil }, `SELECT pg_advisory_xact_lock(4242)`)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first statement never waited for the lock")
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
	errs := make([]error, len(stmts))
	var wg sync.WaitGroup
	for i, sql := range stmts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.query(ctx, func(rows pgx.Rows) error {
				for rows.Next() {
				}
				return nil
			}, sql)
		}()
	}
	for {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == len(stmts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d statements queued", n, len(stmts))
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return errs
}

// TestPGGroup: statements queued behind a group in flight share one
// transaction; a statement the server refuses rolls the group back and
// every statement runs alone, with the answer it gets alone.
func TestPGGroup(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE grouped (k int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	g := &pgGroup{pool: pool}
	var stmts []string
	for i := range 5 {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO grouped VALUES (%d)`, i))
	}
	for i, err := range groupQueued(t, pool, g, stmts) {
		if err != nil {
			t.Fatalf("statement %d: %v", i, err)
		}
	}
	var rows, txs int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM grouped`).Scan(&rows, &txs); err != nil {
		t.Fatal(err)
	}
	if rows != 5 || txs != 1 {
		t.Fatalf("%d rows in %d transactions, want 5 in one", rows, txs)
	}

	stmts = []string{`INSERT INTO grouped VALUES (10)`, `INSERT INTO grouped VALUES (0)`, `INSERT INTO grouped VALUES (11)`}
	errs := groupQueued(t, pool, g, stmts)
	var pgErr *pgconn.PgError
	if errs[0] != nil || errs[2] != nil || !errors.As(errs[1], &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("errors %v, want only the duplicate key refused", errs)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM grouped`).Scan(&rows); err != nil || rows != 7 {
		t.Fatalf("%d rows (%v), want 7", rows, err)
	}
}
