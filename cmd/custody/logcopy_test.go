package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestLogCopyToKurrent runs `custody log copy --to kurrentdb://…` from the
// configured PostgreSQL log to the protocol-level KurrentDB stand-in, then
// selects the copy with CUSTODY_EVENT_LOG and reads it back, personal data
// included (the keys stay in PostgreSQL).
func TestLogCopyToKurrent(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CUSTODY_MASTER_KEY", "")
	t.Setenv("CUSTODY_EVENT_LOG", "")
	t.Setenv("CUSTODY_KURRENTDB_NAMESPACE", "")
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	srv, err := kurrentstandin.Start(kurrentstandin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := "kurrentdb://" + srv.Addr() + "?tls=false"

	pool, cleanup, err := openPostgres(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	// The command connects to the same server instead of starting its own.
	t.Setenv("DATABASE_URL", pool.Config().ConnString())
	pg, _, closePG, err := openEventLog(ctx, pool, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer closePG()
	var want []uuid.UUID
	for i := range 30 {
		e := events.Event{ID: uuid.Must(uuid.NewV7()), Type: "test.happened", SchemaVersion: 1, CorpID: "c",
			Data: []byte(`{}`), PII: []byte(`{"name":"x"}`), Subject: "customer/c/1"}
		stream := events.CustomerStream("c", []string{"1", "2", "3"}[i%3])
		if _, err := pg.Append(ctx, stream, eventlog.ExpectAny, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
	}

	if err := logCopy(ctx, []string{"--to", url, "--progress=false"}, io.Discard); err != nil {
		t.Fatalf("log copy: %v", err)
	}
	// The checkpoint sits in ./.data; a second run copies nothing new.
	if m, _ := filepath.Glob(".data/logcopy-*.json"); len(m) != 1 {
		t.Fatalf("checkpoint files %v, want one", m)
	}
	if err := logCopy(ctx, []string{"--to", url, "--progress=false"}, io.Discard); err != nil {
		t.Fatalf("second log copy: %v", err)
	}

	t.Setenv("CUSTODY_EVENT_LOG", url)
	log, eraser, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		t.Fatalf("open CUSTODY_EVENT_LOG=%s: %v", url, err)
	}
	defer closeLog()
	if _, ok := log.(*kurrent.Log); !ok || eraser == nil {
		t.Fatalf("CUSTODY_EVENT_LOG=kurrentdb://… opened %T", log)
	}
	got, err := log.ReadAll(ctx, events.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("KurrentDB holds %d events, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.ID != want[i] || string(r.PII) != `{"name":"x"}` && string(r.PII) != `{"name": "x"}` {
			t.Fatalf("event %d: %s %q, want %s with its personal data", i, r.ID, r.PII, want[i])
		}
	}

	if err := logCopy(ctx, []string{"--from", "postgres", "--to", "postgres"}, io.Discard); err == nil {
		t.Fatal("copy of a log onto itself accepted")
	}
	if err := logCopy(ctx, []string{}, io.Discard); err == nil {
		t.Fatal("copy without --to accepted")
	}
}

func TestLogName(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "postgres",
		"postgres":                           "postgres",
		"kurrentdb://admin:secret@h:2113":    "kurrentdb://admin:xxxxx@h:2113",
		"esdb://admin:secret@a:1,b:2?tls=no": "esdb://admin:xxxxx@a:1,b:2?tls=no",
		"esdb://admin:secret@h:1/%zz":        "esdb://xxxxx@h:1/%zz",
	} {
		if got := logName(in); got != want {
			t.Errorf("logName(%q) = %q, want %q", in, got, want)
		}
	}
}
