package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/testkit/kurrentstandin"
)

// TestServeSurvivesKurrentOutage runs custody serve with its event log on
// KurrentDB (the protocol-level stand-in: a KurrentDB server cannot run
// here) while the projector and the relay follow it, stops the server and
// starts it again. serve must keep running (it crashed with "send on
// closed channel" inside the client), /readyz must say 503 while the log is
// away and commands answer 503 unavailable, and both recover when the
// server is back.
func TestServeSurvivesKurrentOutage(t *testing.T) {
	freshMachine(t)
	srv, err := kurrentstandin.Start(kurrentstandin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv("CUSTODY_EVENT_LOG", "kurrentdb://"+srv.Addr()+"?tls=false")
	served, err := startServe(t)
	if err != nil {
		t.Fatalf("serve stopped before serving: %v", err)
	}
	call := served.call
	join := func(id string) (int, string) {
		return call("POST", "/v1/corps/acme/staff", `{"staff_id":"`+id+`","name":"N"}`)
	}
	waitStatus := func(path string, want int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			st, body := call("GET", path, "")
			if st == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d %s, want %d", path, st, body, want)
			}
			select {
			case <-served.exited:
				t.Fatalf("serve stopped: %v", served.err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	if st, body := join("alice"); st != http.StatusCreated {
		t.Fatalf("join on a running log: %d %s", st, body)
	}
	waitStatus("/readyz", http.StatusOK)

	for round := range 2 {
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		waitStatus("/readyz", http.StatusServiceUnavailable)
		if st, body := join(fmt.Sprintf("away%d", round)); st != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
			t.Fatalf("round %d: command while the log is away: %d %s, want 503 unavailable", round, st, body)
		}
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		waitStatus("/readyz", http.StatusOK)
		deadline := time.Now().Add(time.Minute)
		for {
			st, body := join(fmt.Sprintf("back%d", round))
			if st == http.StatusCreated || st == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: command after the log came back: %d %s", round, st, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The projector kept following: the overview sees alice, back0 and
	// back1 (nothing of the refused commands).
	deadline := time.Now().Add(time.Minute)
	for {
		_, body := call("GET", "/v1/corps/acme/overview", "")
		if strings.Contains(body, `"active_staff":3`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview after the outages: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-served.exited:
		t.Fatalf("serve stopped during the outages: %v", served.err)
	default:
	}
	if err := served.stop(); err != nil {
		t.Fatalf("serve after shutdown: %v", err)
	}
}
