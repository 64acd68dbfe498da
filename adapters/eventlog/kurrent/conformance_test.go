package kurrent_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/storetest"
)

// caps are the guarantees KurrentDB cannot give: an ExpectAny retry is only
// deduplicated while its events are still the stream's newest (the suite
// retries after further appends), see docs/kurrentdb.md.
var caps = &storetest.Capabilities{IdempotentWithAny: false}

// quiet keeps the client's reconnect chatter out of test output.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startStandin starts a protocol-level stand-in for the test.
func startStandin(t testing.TB, opts kurrentstandin.Options) *kurrentstandin.Server {
	t.Helper()
	srv, err := kurrentstandin.Start(opts)
	if err != nil {
		t.Fatalf("start stand-in: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop stand-in: %v", err)
		}
	})
	return srv
}

// openLog opens the adapter on url in a namespace of its own, delivering
// every stream of that namespace (the suite's stream names are not
// custody's).
func openLog(t testing.TB, url string, opts kurrent.Options) *kurrent.Log {
	t.Helper()
	if opts.Keyring == nil {
		opts.Keyring = pii.NewMemoryKeyring()
	}
	opts.Logger = quiet
	opts.Namespace = "ct-" + uuid.NewString() + "-"
	opts.StreamPrefixes = []string{""}
	log, err := kurrent.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { log.Close() })
	return log
}

// TestConformanceStandin runs the shared suite through the real esdb
// client, over loopback gRPC, against the protocol-level stand-in.
func TestConformanceStandin(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		srv := startStandin(t, kurrentstandin.Options{})
		log := openLog(t, srv.URL(), kurrent.Options{})
		return storetest.Harness{Log: log, Eraser: log, Capabilities: caps}
	})
}

// TestConformanceStandinPlainAny runs the suite with Any and StreamExists
// sent to the server as esdb.Any{} and esdb.StreamExists{} (no tail read),
// against a stand-in that never deduplicates them (the weakest server).
func TestConformanceStandinPlainAny(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		srv := startStandin(t, kurrentstandin.Options{NoAnyDeduplication: true})
		log := openLog(t, srv.URL(), kurrent.Options{DisableResolveAny: true})
		return storetest.Harness{Log: log, Eraser: log, Capabilities: caps}
	})
}

// TestConformanceServer runs the same suite against a real KurrentDB named
// by KURRENTDB_URL (each test in a fresh namespace of its own).
func TestConformanceServer(t *testing.T) {
	url := os.Getenv("KURRENTDB_URL")
	if url == "" {
		t.Skip("KURRENTDB_URL not set: the conformance suite against a real KurrentDB server is skipped " +
			"(e.g. KURRENTDB_URL=kurrentdb://127.0.0.1:2113?tls=false; see docs/kurrentdb.md)")
	}
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		log := openLog(t, url, kurrent.Options{})
		return storetest.Harness{Log: log, Eraser: log, Capabilities: caps}
	})
}
