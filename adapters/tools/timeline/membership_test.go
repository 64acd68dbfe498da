package timeline_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/tools/timeline"
	"github.com/custody/custody/projections"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestMembershipFinder: the group membership projection finds the same
// group chats as a scan of the log, so both timelines are equal.
func TestMembershipFinder(t *testing.T) {
	ctx := context.Background()
	log := history(t)
	pool := pgtest.NewPool(t)
	if err := projections.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	r, err := projections.NewRunner(pool, log, projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	chats, err := timeline.Membership{DB: pool}.GroupChatsOf(ctx, "acme", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(chats) != 2 {
		t.Fatalf("chats %v, want g1 and g2", chats)
	}
	viaProjection, err := timeline.Build(ctx, log, "acme", "c1", timeline.Options{Groups: timeline.Membership{DB: pool}})
	if err != nil {
		t.Fatal(err)
	}
	viaScan, err := timeline.Build(ctx, log, "acme", "c1", timeline.Options{Groups: timeline.LogScan{Log: log}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(viaProjection) != fmt.Sprint(viaScan) {
		t.Fatalf("timelines differ:\nprojection %+v\n      scan %+v", viaProjection, viaScan)
	}
}
