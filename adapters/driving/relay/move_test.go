package relay_test

import (
	"context"
	"errors"
	"testing"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events"
)

// TestMoveCheckpoints: a switch of event log moves every route's checkpoint
// (backwards too, forgetting the positions published after it), and is
// refused, changing nothing, while a route's advisory lock is held.
func TestMoveCheckpoints(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := relay.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO relay_checkpoints (route, commit_pos, prepare_pos, published, skip)
		VALUES ('nats', 900, 900, 10, '[[901,901]]'), ('rabbit', 500, 400, 3, '[]')`); err != nil {
		t.Fatal(err)
	}
	// A running instance holds the route's lock on its own connection.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('custody.relay'), hashtext('rabbit'))`); err != nil {
		t.Fatal(err)
	}
	if _, err := relay.MoveCheckpoints(ctx, pool, events.Start); !errors.Is(err, relay.ErrRouteRunning) {
		t.Fatalf("move while a route runs: %v, want ErrRouteRunning", err)
	}
	if pos, _ := relay.Checkpoint(ctx, pool, "nats"); pos != (events.Position{Commit: 900, Prepare: 900}) {
		t.Fatalf("a refused move changed a checkpoint to %s", pos)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext('custody.relay'), hashtext('rabbit'))`); err != nil {
		t.Fatal(err)
	}
	conn.Release()

	to := events.Position{Commit: 42, Prepare: 42}
	n, err := relay.MoveCheckpoints(ctx, pool, to)
	if err != nil || n != 2 {
		t.Fatalf("move: %d routes, %v; want 2", n, err)
	}
	for _, r := range []string{"nats", "rabbit"} {
		if pos, err := relay.Checkpoint(ctx, pool, r); err != nil || pos != to {
			t.Fatalf("route %s at %s (%v), want %s", r, pos, err, to)
		}
	}
	var skip string
	if err := pool.QueryRow(ctx, `SELECT skip::text FROM relay_checkpoints WHERE route = 'nats'`).Scan(&skip); err != nil || skip != "[]" {
		t.Fatalf("published-after positions kept: %q (%v)", skip, err)
	}
}
