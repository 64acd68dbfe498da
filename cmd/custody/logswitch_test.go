package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/pg/logbinding"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/pgtest"
)

// TestLogSwitchDrill moves a deployment from its PostgreSQL log to
// KurrentDB (the protocol-level stand-in: a KurrentDB server cannot run
// here) and back, as an operator would: serve, stop, custody log copy,
// switch CUSTODY_EVENT_LOG. serve must refuse the switched log until
// custody log rebind ran (the database's positions are the old log's);
// after rebind the projections show every copied event and new commands
// work; and the way back (copy, switch, rebind) works the same. Fan-out
// is checked end to end on a PostgreSQL broker route (which does not
// deduplicate): after a rebind with -relay-from head nothing copied is
// published again and the new event once; after -relay-from start every
// event of the new log is published again, then the new one.
func TestLogSwitchDrill(t *testing.T) {
	freshMachine(t)
	srv, err := kurrentstandin.Start(kurrentstandin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kurrentURL := "kurrentdb://" + srv.Addr() + "?tls=false"
	ctx := context.Background()

	// Fan-out: every staff.joined the route publishes, in arrival order.
	broker := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(broker, "?") {
		sep = "&"
	}
	t.Setenv("CUSTODY_RELAY_ROUTES", "drill="+broker+sep+"topics=*:drill.all")
	sub, err := relay.NewSubscriber(ctx, broker, relay.SubscriberOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	msgs, err := sub.Subscribe(ctx, "drill.all")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		joined []string // staff ids, in publishing order
	)
	go func() {
		for m := range msgs {
			var ce struct {
				Type string `json:"type"`
				Data struct {
					StaffID string `json:"staff_id"`
				} `json:"data"`
			}
			if err := json.Unmarshal(m.Payload, &ce); err != nil {
				t.Errorf("published message %s: %v", m.UUID, err)
			}
			if ce.Type == "staff.joined" {
				mu.Lock()
				joined = append(joined, ce.Data.StaffID)
				mu.Unlock()
			}
			m.Ack()
		}
	}()
	// published waits until the route published as many staff.joined
	// as want names, and fails unless they are want's (the relay keeps
	// each stream's order; these streams hold one event each).
	published := func(want ...string) {
		t.Helper()
		slices.Sort(want)
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			got := slices.Sorted(slices.Values(joined))
			mu.Unlock()
			if len(got) >= len(want) {
				if !slices.Equal(got, want) {
					t.Fatalf("published staff.joined for %v, want %v", got, want)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("published staff.joined for %v, want %v", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// serve starts custody serve, calls fn with it and stops it; the error
	// is serve's (a refusal to start included).
	type client = *servedCustody
	serve := func(fn func(c client)) error {
		c, err := startServe(t)
		if err != nil {
			return err
		}
		fn(c)
		return c.stop()
	}
	join := func(c client, id string) {
		t.Helper()
		if st, body := c.call("POST", "/v1/corps/acme/staff", `{"staff_id":"`+id+`","name":"N"}`); st != http.StatusCreated {
			t.Fatalf("join %s: %d %s", id, st, body)
		}
	}
	waitStaff := func(c client, n string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			_, body := c.call("GET", "/v1/corps/acme/overview", "")
			if strings.Contains(body, `"active_staff":`+n+`,`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("overview never showed %s active staff: %s", n, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rebind := func(from string) string {
		t.Helper()
		var out strings.Builder
		must(logRebind(ctx, []string{"-relay-from", from}, &out, io.Discard))
		return out.String()
	}

	// 1. On the PostgreSQL log.
	must(serve(func(c client) {
		join(c, "alice")
		join(c, "bob")
		waitStaff(c, "2")
		published("alice", "bob")
	}))

	// 2. Copy to KurrentDB and switch: serve refuses until rebind.
	must(logCopy(ctx, []string{"--to", kurrentURL, "--progress=false"}, io.Discard))
	t.Setenv("CUSTODY_EVENT_LOG", kurrentURL)
	err = serve(func(client) { t.Error("serve started on a switched log without rebind") })
	if !errors.Is(err, logbinding.ErrChanged) || !strings.Contains(err.Error(), "custody log rebind") {
		t.Fatalf("serve on the switched log: %v, want the binding refusal naming custody log rebind", err)
	}
	if out := rebind("head"); !strings.Contains(out, "bound to kurrentdb log") {
		t.Fatalf("rebind said %q", out)
	}
	if out := rebind("head"); !strings.Contains(out, "nothing to do") {
		t.Fatalf("a second rebind said %q", out)
	}
	must(serve(func(c client) {
		waitStaff(c, "2") // rebuilt from the copied events
		join(c, "carol")
		waitStaff(c, "3")
		published("alice", "bob", "carol")
	}))

	// 3. Back to PostgreSQL: the copy adds carol to the events already
	// there; the database is bound to KurrentDB now, so rebind again.
	t.Setenv("CUSTODY_EVENT_LOG", "")
	must(logCopy(ctx, []string{"--from", kurrentURL, "--to", "postgres", "--progress=false"}, io.Discard))
	err = serve(func(client) { t.Error("serve started on the old log without rebind") })
	if !errors.Is(err, logbinding.ErrChanged) {
		t.Fatalf("serve back on PostgreSQL: %v, want the binding refusal", err)
	}
	if out := rebind("start"); !strings.Contains(out, "bound to postgresql log") {
		t.Fatalf("rebind said %q", out)
	}
	must(serve(func(c client) {
		waitStaff(c, "3")
		join(c, "dave")
		waitStaff(c, "4")
		published("alice", "bob", "carol", "alice", "bob", "carol", "dave")
	}))
}

// TestLogRebindFlags: -relay-from takes exactly "start" or "head"; anything
// else is a usage error before any database or log is opened.
func TestLogRebindFlags(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-relay-from", ""},
		{"-relay-from", "end"},
		{"-relay-from", "start\x00"},
		{"-relay-from", strings.Repeat("s", 1<<16)},
		{"-relay-from", "-1"},
		{"-relay-from", "start", "extra"},
		{"-batch"},
	} {
		var out strings.Builder
		err := logRebind(context.Background(), args, &out, io.Discard)
		if err == nil || out.Len() != 0 {
			t.Errorf("rebind %q: %v, printed %q; want a usage error and nothing done", args, err, out.String())
		}
	}
}
