package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
	t.Chdir(t.TempDir())
	srv, err := kurrentstandin.Start(kurrentstandin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, k := range []string{"DATABASE_URL", "CUSTODY_ADMIN_TOKEN", "CUSTODY_MASTER_KEY", "CUSTODY_RELAY_ROUTES", "CUSTODY_ADMIN_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("CUSTODY_EVENT_LOG", "kurrentdb://"+srv.Addr()+"?tls=false")
	addrc := make(chan net.Addr, 1)
	serving = func(a net.Addr) { addrc <- a }
	t.Cleanup(func() { serving = nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, []string{"-addr", "127.0.0.1:0", "-settle-every", "1h"}) }()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve stopped before serving: %v", err)
	}
	raw, err := os.ReadFile(adminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
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
			case err := <-done:
				t.Fatalf("serve stopped: %v", err)
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
	case err := <-done:
		t.Fatalf("serve stopped during the outages: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after shutdown: %v", err)
	}
}
