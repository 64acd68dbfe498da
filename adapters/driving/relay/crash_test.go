package relay_test

import (
	"context"
	"fmt"
	"github.com/custody/custody/adapters/testkit/poll"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// crashScenario kills the relay mid-stream — its pool is closed under it
// and its context cancelled, so the last checkpoint write fails like in a
// crash — and starts a new one: every event arrives, duplicates are
// byte-identical, per-stream order holds.
func crashScenario(t *testing.T, b broker) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, pool := newLog(t)
	route := relay.Route{Name: uniqueName("crash"), URL: b.url, TopicPrefix: uniqueName("t")}
	if b.cleanup != nil {
		t.Cleanup(func() { b.cleanup(t, route) })
	}
	col := newCollector()
	col.subscribe(ctx, t, b.subscriber(t), route)
	n := envInt("RELAY_CRASH_EVENTS", 6000)
	if raceEnabled {
		n = envInt("RELAY_CRASH_EVENTS", 1500)
	}

	relayPool := func() *pgxpool.Pool {
		p, err := pgxpool.New(ctx, pool.Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	opts := relay.Options{Log: log, Routes: []relay.Route{route}, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		CheckpointEvery: 500, CheckpointInterval: 50 * time.Millisecond}
	opts.Pool = relayPool()
	r1, err := relay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r1.Run(rctx) }()

	written := make(chan *appended, 1)
	go func() { written <- writeConcurrently(ctx, t, log, "corp1", 8, n, 10, 5) }()

	poll.Until(t, "a third of the events delivered", func() bool { return col.unique.Load() >= int64(n/3) })
	closed := make(chan struct{})
	go func() { opts.Pool.Close(); close(closed) }()
	rcancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	<-closed
	crashedAt := col.unique.Load()

	opts.Pool = relayPool()
	defer opts.Pool.Close()
	_, stop := startRelay(t, opts)
	defer stop()
	want := <-written
	col.waitUnique(t, n)
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, pool, route.Name, head)
	col.verify(t, want, route)
	t.Logf("crashed after %d distinct events; %d deliveries in all", crashedAt, col.total.Load())
}

func TestCrashRestartNATSJetStream(t *testing.T) { crashScenario(t, natsBroker(t)) }
func TestCrashRestartRabbitMQ(t *testing.T)      { crashScenario(t, amqpBroker(t)) }
func TestCrashRestartRedisStreams(t *testing.T)  { crashScenario(t, redisBroker(t)) }
func TestCrashRestartPostgreSQL(t *testing.T)    { crashScenario(t, postgresBroker(t)) }
func TestCrashRestartKafka(t *testing.T)         { crashScenario(t, kafkaBroker(t)) }

// privateNATS is a nats-server of the test's own, on a free port, that
// the test may stop and start again (the shared one on 4222 is never
// touched).
type privateNATS struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

func startPrivateNATS(t testing.TB) *privateNATS {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("NATS JetStream not reachable: no nats-server binary to launch a private one: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &privateNATS{t: t, port: port, dir: t.TempDir()}
	n.start(bin)
	t.Cleanup(n.stop)
	return n
}

func (n *privateNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *privateNATS) start(bin string) {
	n.t.Helper()
	n.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-js", "-sd", n.dir)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("start private nats-server: %v", err)
	}
	poll.Until(n.t, "private nats-server listening", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func (n *privateNATS) stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	n.cmd = nil
}

// TestBrokerDownDelaysButLosesNothing stops the relay's NATS server while
// events keep coming, checks the checkpoint holds still while publishes
// fail, restarts the server and checks everything arrives.
func TestBrokerDownDelaysButLosesNothing(t *testing.T) {
	ctx := context.Background()
	nats := startPrivateNATS(t)
	bin := nats.cmd.Path
	log, pool := newLog(t)
	reg := prometheus.NewRegistry()
	route := relay.Route{Name: "down", URL: nats.url(), TopicPrefix: "down"}
	_, stop := startRelay(t, relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}, Registerer: reg,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, CheckpointInterval: 20 * time.Millisecond, LagInterval: 50 * time.Millisecond})
	defer stop()

	want := writeConcurrently(ctx, t, log, "corp1", 4, 2000, 10, 5)
	head1, _ := log.Head(ctx)
	waitCheckpoint(t, pool, route.Name, head1)

	nats.stop()
	more := writeConcurrently(ctx, t, log, "corp2", 4, 3000, 10, 5)
	poll.Until(t, "the relay retrying against the stopped broker", func() bool {
		return metricValue(t, reg, "custody_relay_retries_total", "down") >= 3
	})
	poll.Until(t, "lag reported while the broker is down", func() bool {
		return metricValue(t, reg, "custody_relay_lag_seconds", "down") > 0
	})
	if cp, _ := relay.Checkpoint(ctx, pool, route.Name); cp != head1 {
		t.Fatalf("checkpoint moved to %s while the broker was down, want %s", cp, head1)
	}

	nats.start(bin)
	head2, _ := log.Head(ctx)
	waitCheckpoint(t, pool, route.Name, head2)
	poll.Until(t, "lag back to 0", func() bool { return metricValue(t, reg, "custody_relay_lag_seconds", "down") == 0 })

	for id, r := range more.byID {
		want.byID[id] = r
	}
	col := newCollector()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	col.subscribe(sctx, t, newSubscriber(t, nats.url()), route)
	col.waitUnique(t, 5000)
	col.verify(t, want, route)
	t.Logf("retries while down: %v", metricValue(t, reg, "custody_relay_retries_total", "down"))
}
