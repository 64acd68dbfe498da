package kurrentstandin_test

import (
	"errors"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/custody/custody/adapters/testkit/kurrentstandin"
)

func clusterClient(t *testing.T, s *kurrentstandin.Server) *esdb.Client {
	t.Helper()
	conf, err := esdb.ParseConnectionString(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func esdbCode(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

// TestClusterLeaderChange pins what a client sees of a cluster: a
// follower refuses appends naming the leader (the client then reconnects
// to it), reads are served everywhere from one log, a leader change drops
// the old leader's subscriptions, and a lost answer leaves the write stored.
func TestClusterLeaderChange(t *testing.T) {
	if _, err := kurrentstandin.StartCluster(1, kurrentstandin.Options{}); err == nil {
		t.Fatal("a one-node cluster was accepted")
	}
	cl, err := kurrentstandin.StartCluster(3, kurrentstandin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c := clusterClient(t, cl.Node(1)) // connected to a follower
	app := func(evs ...esdb.EventData) error {
		_, err := c.AppendToStream(ctx(t), "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, evs...)
		return err
	}
	a := ev("t")
	if err := app(a); esdbCode(err) != esdb.ErrorCodeNotLeader {
		t.Fatalf("append on a follower: %v, want ErrorCodeNotLeader", err)
	}
	// The client followed the answer to the leader.
	if err := app(a); err != nil {
		t.Fatalf("append after the not-leader answer: %v", err)
	}
	// Every node reads the same log.
	for i := range 3 {
		got, err := readStream(t, clusterClient(t, cl.Node(i)), "s", esdb.ReadStreamOptions{}, 10)
		if err != nil || len(got) != 1 || got[0].EventID != a.EventID {
			t.Fatalf("node %d reads %d events (%v), want the one appended", i, len(got), err)
		}
	}

	// A subscription on the leader ends when it loses the leadership.
	sub, err := c.SubscribeToAll(ctx(t), esdb.SubscribeToAllOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if cl.Node(0).Subscriptions() != 1 {
		t.Fatalf("leader serves %d subscriptions, want 1", cl.Node(0).Subscriptions())
	}
	cl.Elect(2)
	if cl.Leader() != 2 {
		t.Fatalf("leader %d after Elect(2)", cl.Leader())
	}
	for {
		e := sub.Recv()
		if e.SubscriptionDropped != nil {
			break
		}
	}

	// The client follows the leadership to node 2.
	x := ev("t")
	onLeader(t, func() error { return app(x) })
	// The leader commits, then its answer is lost; the next node leads.
	cl.LoseNextAppendAck()
	b := ev("t")
	if err := app(b); err == nil {
		t.Fatal("an append whose answer was lost succeeded")
	}
	if cl.Leader() != 0 {
		t.Fatalf("leader %d after the lost answer on 2, want 0", cl.Leader())
	}
	got, err := readStream(t, c, "s", esdb.ReadStreamOptions{}, 10)
	if err != nil || len(got) != 3 || got[2].EventID != b.EventID {
		t.Fatalf("stream holds %d events (%v), want the lost-answer write stored", len(got), err)
	}
	// Retried with the same id, the write is recognised, not repeated.
	onLeader(t, func() error { return app(b) })
	if got, _ := readStream(t, c, "s", esdb.ReadStreamOptions{}, 10); len(got) != 3 {
		t.Fatalf("stream holds %d events after the retry, want 3", len(got))
	}
}

// onLeader runs an append until it reaches the leader (a few not-leader
// answers while the client follows them) and fails on any other error.
func onLeader(t *testing.T, app func() error) {
	t.Helper()
	for range 5 {
		err := app()
		if err == nil {
			return
		}
		if esdbCode(err) != esdb.ErrorCodeNotLeader {
			t.Fatal(err)
		}
	}
	t.Fatal("the client never reached the leader")
}
