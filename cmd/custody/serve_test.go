package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/relay"
)

// TestServeQuickStart is the README's quick start on a fresh machine: no
// DATABASE_URL, no admin token configured. serve starts the private
// PostgreSQL, generates the admin token into ./.data/admin-token (0600),
// answers curl with that token, serves health, readiness and metrics, and
// stops cleanly on cancellation (SIGTERM/SIGINT in main).
func TestServeQuickStart(t *testing.T) {
	freshMachine(t)
	srv, err := startServe(t)
	if err != nil {
		t.Fatalf("serve stopped before serving: %v", err)
	}
	base, call := srv.base, srv.call

	fi, err := os.Stat(adminTokenFile)
	if err != nil {
		t.Fatalf("no generated admin token: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file mode %v, want 0600", fi.Mode().Perm())
	}

	// curl -X POST -H "Content-Type: application/json" -d '{"staff_id":"alice"}' -H "Authorization: Bearer $(cat .data/admin-token)" ...
	if st, body := call("POST", "/v1/corps/acme/staff", `{"staff_id":"alice","name":"Li Na"}`); st != http.StatusCreated {
		t.Fatalf("join staff: %d %s", st, body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if st, body := call("GET", p, ""); st != http.StatusOK {
			t.Fatalf("%s: %d %s", p, st, body)
		}
	}
	// The projector runs: the overview sees alice.
	deadline := time.Now().Add(time.Minute)
	for {
		_, body := call("GET", "/v1/corps/acme/overview", "")
		if strings.Contains(body, `"active_staff":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview never showed the new staff member: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, metrics := call("GET", "/metrics", "")
	for _, want := range []string{
		`custody_http_request_duration_seconds_count{code="201",route="POST /v1/corps/{corp}/staff"} 1`,
		`custody_eventlog_append_duration_seconds_count{result="ok"}`,
		`custody_eventlog_append_conflicts_total`,
		`custody_projection_lag_seconds{projection="staff"}`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "Li Na") {
		t.Fatal("personal data in /metrics")
	}

	// custody tokens, while serve runs on the private PostgreSQL: create a
	// corp token, use it, revoke it.
	secret := strings.TrimSpace(captureStdout(t, func() error {
		return runTokens(context.Background(), []string{"create", "--corp", "acme", "--label", "test"})
	}))
	srv.token = secret // call uses it from now on
	if st, body := call("GET", "/v1/corps/acme/overview", ""); st != http.StatusOK {
		t.Fatalf("new corp token: %d %s", st, body)
	}
	if st, _ := call("GET", "/v1/corps/other/overview", ""); st != http.StatusForbidden {
		t.Fatalf("corp token on another corp: %d", st)
	}
	list := captureStdout(t, func() error { return runTokens(context.Background(), []string{"list", "--corp", "acme"}) })
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	if err := runTokens(context.Background(), []string{"revoke", id}); err != nil {
		t.Fatal(err)
	}
	// Revoked by another process: refused within the token cache's TTL.
	deadline = time.Now().Add(time.Minute)
	for {
		st, _ := call("GET", "/v1/corps/acme/overview", "")
		if st == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked token still accepted: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := srv.stop(); err != nil {
		t.Fatalf("serve after shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still accepting requests after shutdown")
	}
}

func TestParseRelayRoutes(t *testing.T) {
	rs, err := parseRelayRoutes("nats=nats://127.0.0.1:4222; kafka=kafka://h1:9092,h2:9092\namqp=amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Name != "nats" || rs[1].URL != "kafka://h1:9092,h2:9092" || rs[2].Name != "amqp" {
		t.Fatalf("routes %+v", rs)
	}
	if rs, err := parseRelayRoutes(""); err != nil || len(rs) != 0 {
		t.Fatalf("empty: %v %v", rs, err)
	}
	_, err = parseRelayRoutes("amqp://guest:secret@host:5672/")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("entry without a name: %v", err)
	}
}

// TestAdminToken: CUSTODY_ADMIN_TOKEN wins; otherwise the generated file is
// reused across starts; a too-short token is refused.
func TestAdminToken(t *testing.T) {
	t.Chdir(t.TempDir())
	logger := slog.New(slog.DiscardHandler)
	cfg := serveConfig{adminTokenFile: adminTokenFile}
	first, err := loadAdminToken(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadAdminToken(cfg, logger)
	if err != nil || again != first {
		t.Fatalf("second start: %q, %v; want the stored token", again, err)
	}
	cfg.adminToken = "from-the-environment-123"
	if tok, err := loadAdminToken(cfg, logger); err != nil || tok != cfg.adminToken {
		t.Fatalf("env token: %q, %v", tok, err)
	}
	cfg.adminToken = "short"
	if _, err := loadAdminToken(cfg, logger); err == nil {
		t.Fatal("short admin token accepted")
	}
}

// captureStdout returns what fn printed to standard output.
func captureStdout(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	ferr := fn()
	os.Stdout = old
	w.Close()
	s := <-out
	if ferr != nil {
		t.Fatal(ferr)
	}
	return s
}

func TestParseRelayRouteOptions(t *testing.T) {
	rs, err := parseRelayRoutes("crm=nats://mq:4222?prefix=crm&topics=handover:crm.ho,customer.erased:crm.erasure,*:crm.all&corps=ww1,acme&types=handover.*,customer&pii=true " +
		"bi=postgres://u:p@db/bi?sslmode=disable&corps=acme&application_name=relay")
	if err != nil {
		t.Fatal(err)
	}
	want := []relay.Route{{
		Name: "crm", URL: "nats://mq:4222", TopicPrefix: "crm",
		Topics: map[string]string{"handover": "crm.ho", "customer.erased": "crm.erasure", "*": "crm.all"},
		Corps:  []string{"ww1", "acme"}, Types: []string{"handover.*", "customer"}, IncludePII: true,
	}, {
		Name: "bi", URL: "postgres://u:p@db/bi?sslmode=disable&application_name=relay", Corps: []string{"acme"},
	}}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("routes\n%+v\nwant\n%+v", rs, want)
	}
	// The options reach the relay's routing.
	if got := rs[0].Topic("handover.requested"); got != "crm.ho" {
		t.Errorf("handover.requested goes to %q", got)
	}
	if got := rs[0].Topic("staff.joined"); got != "crm.all" {
		t.Errorf("staff.joined goes to %q", got)
	}

	for _, bad := range []string{
		"x=nats://h?pii=yes-please",
		"x=nats://h?pii=",
		"x=nats://h?prefix=a&prefix=b",
		"x=nats://h?topics=handover",
		"x=nats://h?topics=handover:a,handover:b",
		"x=nats://h?topics=Handover!:a",
		"x=nats://h?topics=handover:a%20b",
		"x=nats://h?types=handover.requested.x",
		"x=nats://h?corps=a,,b",
		"x=nats://h?prefix=a/b",
		"x=nats://h x=redis://h",
		"x y=nats://h",
		"x=amqp://guest:secret@h/?pii=maybe",
	} {
		_, err := parseRelayRoutes(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "CUSTODY_RELAY_ROUTES") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error %q must name CUSTODY_RELAY_ROUTES and no password", bad, err)
		}
	}
}
