package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/relay"
)

// TestStatusNamesRouteOwners: with two instances configured with one
// route, `custody status` names the instance that owns it, its epoch and
// state, and lists every projection; after the owner stops, the standby
// is named under the next epoch.
func TestStatusNamesRouteOwners(t *testing.T) {
	env := newCLIEnv(t, "custody", 5)
	route := relay.Route{Name: "fanout", URL: relay.InProcessURL}
	start := func(instance string) (*relay.Relay, context.CancelFunc, chan error) {
		r, err := relay.New(relay.Options{Log: env.log, Pool: env.pool, Routes: []relay.Route{route}, Instance: instance})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		return r, cancel, done
	}
	running := func(r *relay.Relay) bool { return r.Status()[0].Running }
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
		}
	}
	status := func() string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := statusCommand(context.Background(), nil, &out, &errOut); err != nil {
			t.Fatalf("status: %v %s", err, errOut.String())
		}
		return out.String()
	}

	a, stopA, doneA := start("host-a:1")
	wait("a owning the route", func() bool { return running(a) })
	b, stopB, doneB := start("host-b:2")
	defer func() { stopB(); <-doneB }()

	out := status()
	for _, want := range []string{"Projections", "customers", "Relay routes", "fanout", "host-a:1", "owned"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "host-b:2") {
		t.Fatalf("status names the standby as owner:\n%s", out)
	}

	stopA()
	<-doneA
	wait("b taking over", func() bool { return running(b) })
	out = status()
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "fanout ") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 5 || f[1] != "host-b:2" || f[3] != "2" || f[4] != "owned" {
		t.Fatalf("after the takeover, route line %q, want owner host-b:2 under epoch 2, owned:\n%s", line, out)
	}
}

// TestStatusRefusesBadFlags: a scan limit that is not positive, or an
// extra argument, is a usage error before anything is opened.
func TestStatusRefusesBadFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{{"--scan", "0"}, {"--scan", "-5"}, {"--scan", "99999999999999999999"}, {"extra"}} {
		if err := statusCommand(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
