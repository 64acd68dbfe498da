package relay_test

import (
	"context"
	"fmt"
	"github.com/custody/custody/adapters/testkit/poll"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/relay"
)

// terminateRouteLock ends the database session holding the route's
// advisory lock, as a database restart, a proxy or an idle-connection
// killer would, while the owner process stays up. It reports whether a
// session was ended.
func terminateRouteLock(t testing.TB, admin *pgxpool.Pool, route string) bool {
	t.Helper()
	var n int
	err := admin.QueryRow(context.Background(), `
SELECT count(pg_terminate_backend(pid)) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid::int8 = hashtext('custody.relay')::int8 & x'FFFFFFFF'::int8
  AND objid::int8 = hashtext($1)::int8 & x'FFFFFFFF'::int8`, route).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestLockConnectionLostNothingPublishedTwice runs one route in three
// relays (three instances, each with its own pool) publishing to the
// PostgreSQL broker, which does not deduplicate, while eight writers
// append. Five times the owner's lock connection is terminated while the
// owner stays up. No event may arrive twice, every stream's events arrive in
// order, and the per-instance counts add up to the events written.
func TestLockConnectionLostNothingPublishedTwice(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, pool := newLog(t)
	b := postgresBroker(t)
	route := relay.Route{Name: uniqueName("fenced"), URL: b.url, TopicPrefix: uniqueName("t")}
	col := newCollector()
	col.subscribe(ctx, t, b.subscriber(t), route)

	dsn := pool.Config().ConnString()
	relays := make([]*relay.Relay, 3)
	for i := range relays {
		p, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		relays[i], _ = startRelay(t, relay.Options{
			Log: log, Pool: p, Routes: []relay.Route{route},
			Instance: fmt.Sprintf("instance-%d", i), RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		})
	}

	n := 10000
	if raceEnabled {
		n = 3000
	}
	// Cut the owner's lock connection five times while events are being
	// published (the first has arrived, the last not yet).
	var killed, killedInFlight int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for col.unique.Load() == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		for killed < 5 && ctx.Err() == nil {
			inFlight := col.unique.Load() < int64(n)
			if terminateRouteLock(t, pool, route.Name) {
				killed++
				if inFlight {
					killedInFlight++
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	want := writeConcurrently(ctx, t, log, "corp1", 8, n, 10, 1)
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, pool, route.Name, head)
	col.waitUniqueFor(t, n, time.Minute)
	wg.Wait()
	col.verify(t, want, route)
	if killedInFlight == 0 {
		t.Fatalf("no lock connection was cut while events were being published (%d cut): the test exercised nothing", killed)
	}
	if dup := col.total.Load() - col.unique.Load(); dup != 0 {
		t.Errorf("%d events were published twice after %d lock connections were cut", dup, killed)
	}
	var sum int64
	var per []string
	for _, r := range relays {
		st := r.Status()[0]
		sum += st.Published
		per = append(per, fmt.Sprintf("%s %d", st.Instance, st.Published))
	}
	if sum != int64(n) {
		t.Errorf("instances published %d events in all (%v), want %d", sum, per, n)
	}
	owners, err := relay.Owners(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d lock connections cut, %d while publishing; published per instance: %v; owners: %+v", killed, killedInFlight, per, owners)
}

// TestTakeoverTime measures how long a standby takes to publish after the
// owner stops: gracefully (it releases the route) and abruptly (its
// database sessions end with it, as on kill -9; it never releases).
func TestTakeoverTime(t *testing.T) {
	for _, abrupt := range []bool{false, true} {
		t.Run(map[bool]string{false: "graceful", true: "killed"}[abrupt], func(t *testing.T) {
			ctx := context.Background()
			log, pool := newLog(t)
			route := relay.Route{Name: uniqueName("takeover"), URL: relay.InProcessURL}
			dsn := pool.Config().ConnString()
			ownerPool, err := pgxpool.New(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer ownerPool.Close()
			owner, stopOwner := startRelay(t, relay.Options{Log: log, Pool: ownerPool, Routes: []relay.Route{route}, Instance: "owner"})
			poll.Until(t, "owner running", func() bool { return owner.Status()[0].Running })
			standby, _ := startRelay(t, relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}, Instance: "standby"})

			start := time.Now()
			if abrupt {
				// The process dies: its connections close, nothing is released.
				terminateAll(t, pool, ownerPool)
				stopOwner()
			} else {
				stopOwner()
			}
			poll.Until(t, "standby taking over", func() bool { return standby.Status()[0].Running })
			took := time.Since(start)
			t.Logf("takeover after the owner %s: %s", map[bool]string{false: "stopped", true: "was killed"}[abrupt], took)
			owners, err := relay.Owners(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}
			if len(owners) != 1 || owners[0].Instance != "standby" || owners[0].Epoch != 2 {
				t.Errorf("owners after takeover: %+v, want standby under epoch 2", owners)
			}
		})
	}
}

// terminateAll ends, from admin, every idle session of victim and the
// session holding a relay lock in this database (the owner's).
func terminateAll(t testing.TB, admin, victim *pgxpool.Pool) {
	t.Helper()
	pids := map[uint32]bool{}
	for _, c := range victim.AcquireAllIdle(context.Background()) {
		pids[c.Conn().PgConn().PID()] = true
		c.Release()
	}
	var lockPIDs []uint32
	rows, err := admin.Query(context.Background(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid::int8 = hashtext('custody.relay')::int8 & x'FFFFFFFF'::int8`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var pid uint32
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		lockPIDs = append(lockPIDs, pid)
	}
	rows.Close()
	for _, pid := range lockPIDs {
		pids[pid] = true
	}
	for pid := range pids {
		if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, int64(pid)); err != nil {
			t.Fatal(err)
		}
	}
}
