package relay

import (
	"context"
	"testing"

	"github.com/custody/custody/adapters/testkit/pgtest"
)

// TestOwnTakesOverOnlyFromTheOwnerWaitedFor: a takeover names the owner
// whose handoff it waited for; when another instance took the route over
// in between (it got the lock first, then lost its lock connection), the
// takeover is refused, so that two instances never publish the route from
// the same checkpoint at once (TestLockConnectionLostNothingPublishedTwice
// published 60 events twice when both went ahead).
func TestOwnTakesOverOnlyFromTheOwnerWaitedFor(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	c := checkpoints{pool: pool}
	own := func(instance string, seen, want int64, wantOK bool) {
		t.Helper()
		epoch, ok, err := c.own(ctx, "r", instance, seen)
		if err != nil || ok != wantOK || (ok && epoch != want) {
			t.Fatalf("%s takes over from epoch %d: epoch %d, %v, %v; want %d, %v", instance, seen, epoch, ok, err, want, wantOK)
		}
	}
	own("a", 0, 1, true)  // the first owner
	own("b", 0, 0, false) // b waited for nobody, but a owns it now
	released, prev, epoch, err := c.previous(ctx, "r")
	if err != nil || released || prev != "a" || epoch != 1 {
		t.Fatalf("previous: %v %q %d %v", released, prev, epoch, err)
	}
	if err := c.release(ctx, "r", 1); err != nil {
		t.Fatal(err)
	}
	own("b", 1, 2, true)  // after a's handoff
	own("a", 1, 0, false) // a waited for its own old epoch: b owns it
}
