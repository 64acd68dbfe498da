package logcopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/tools/logcopy"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// logSize is the event count of the round-trip test: the 50,000
// by default, 10,000 under -race (to stay within the package's time
// budget); LOGCOPY_EVENTS overrides both (e.g. larger, for a stress run).
func logSize(t *testing.T) int {
	if s := os.Getenv("LOGCOPY_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			t.Fatalf("LOGCOPY_EVENTS=%q: want a number >= 100", s)
		}
		return n
	}
	if raceEnabled {
		t.Log("race detector on: copying 10,000 events instead of 50,000 (LOGCOPY_EVENTS=50000 for the full size)")
		return 10_000
	}
	return 50_000
}

// newKeyring keeps data keys in PostgreSQL, as in production: all logs of
// a test share it, so erasure in one is erasure in all.
func newKeyring(t testing.TB) *pii.Keyring {
	t.Helper()
	pool := pgtest.NewPool(t)
	if err := pii.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	master := bytes.Repeat([]byte{7}, pii.KeySize)
	k, err := pii.NewKeyring(master, pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newPG(t testing.TB, k *pii.Keyring) *pgstore.Store {
	t.Helper()
	pool := pgtest.NewPool(t)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(context.Background(), pool, pgstore.Options{Keyring: k, Logger: quiet, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKurrent(t testing.TB, k *pii.Keyring) *kurrent.Log {
	t.Helper()
	srv, err := kurrentstandin.Start(kurrentstandin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	l, err := kurrent.Open(context.Background(), srv.URL(), kurrent.Options{Keyring: k, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fill writes n events of custody's three stream kinds with four
// concurrent writers (so streams interleave in the global order), in
// batches of 1..8 with exact expected versions; customer events carry
// personal data. It then erases one customer.
func fill(t testing.TB, log eventlog.EventLog, eraser eventlog.Eraser, n int) {
	t.Helper()
	ctx := context.Background()
	const writers = 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			next := map[string]int64{}
			for written := w; written < n; {
				var stream, subject string
				switch k := rng.IntN(10); {
				case k < 7:
					id := fmt.Sprintf("wm%d", rng.IntN(100)*writers+w)
					stream, subject = events.CustomerStream("corp1", id), events.CustomerSubject("corp1", id)
				case k < 9:
					stream = events.StaffStream("corp1", fmt.Sprintf("s%d", rng.IntN(10)*writers+w))
				default:
					stream = events.GroupChatStream("corp1", fmt.Sprintf("g%d", rng.IntN(10)*writers+w))
				}
				size := min(1+rng.IntN(8), (n-written+writers-1)/writers)
				batch := make([]events.Event, size)
				for i := range batch {
					e := events.Event{
						ID: uuid.Must(uuid.NewV7()), Type: "test.copied", SchemaVersion: 1 + i%2, CorpID: "corp1",
						OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(written) * time.Second),
						Actor:      "staff:s1", CommandID: fmt.Sprintf("cmd-%d-%d", w, written),
						CorrelationID: "corr", CausationID: "cause",
						Data: fmt.Appendf(nil, `{"n":%d,"w":%d,"i":%d}`, written, w, i),
					}
					if subject != "" {
						e.Subject = subject
						if i%2 == 0 {
							e.PII = fmt.Appendf(nil, `{"remark":"customer %d"}`, written)
						}
					}
					batch[i] = e
				}
				v := next[stream]
				exp := eventlog.ExpectNoStream
				if v > 0 {
					exp = eventlog.ExpectVersion(v - 1)
				}
				if _, err := log.Append(ctx, stream, exp, batch...); err != nil {
					errs <- err
					return
				}
				next[stream] = v + int64(size)
				written += size * writers
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("fill: %v", err)
	}
	// Erase the customer of the first event with personal data.
	first, err := log.ReadAll(ctx, events.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range first {
		if len(r.PII) > 0 {
			if err := eraser.Erase(ctx, r.Subject); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("fill wrote no personal data")
}

func readAll(t *testing.T, log eventlog.EventLog) []events.Recorded {
	t.Helper()
	var out []events.Recorded
	pos := events.Start
	for {
		page, err := log.ReadAll(context.Background(), pos, 2000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		pos = page[len(page)-1].Position
	}
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("stored JSON %q: %v", b, err)
	}
	// jsonb reorders keys; decoding into a map and re-encoding sorts them.
	var v any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// same fails unless both logs hold the same events in the same global
// order: streams, versions, ids and every envelope field, RecordedAt
// included.
func same(t *testing.T, what string, a, b []events.Recorded) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d events, want %d", what, len(b), len(a))
	}
	erased := 0
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Stream != y.Stream || x.StreamVersion != y.StreamVersion || x.Type != y.Type ||
			x.SchemaVersion != y.SchemaVersion || x.CorpID != y.CorpID || !x.OccurredAt.Equal(y.OccurredAt) ||
			x.Actor != y.Actor || x.CommandID != y.CommandID || x.CorrelationID != y.CorrelationID ||
			x.CausationID != y.CausationID || x.Subject != y.Subject || x.PIIErased != y.PIIErased {
			t.Fatalf("%s: event %d differs:\n got  %s %s@%d %+v\n want %s %s@%d %+v", what, i, y.ID, y.Stream, y.StreamVersion, y.Event, x.ID, x.Stream, x.StreamVersion, x.Event)
		}
		if !x.RecordedAt.Equal(y.RecordedAt) {
			t.Fatalf("%s: event %d recorded at %s, the source recorded it at %s", what, i, y.RecordedAt, x.RecordedAt)
		}
		if compactJSON(t, x.Data) != compactJSON(t, y.Data) || compactJSON(t, x.PII) != compactJSON(t, y.PII) {
			t.Fatalf("%s: event %d's data differs: %s %s vs %s %s", what, i, y.Data, y.PII, x.Data, x.PII)
		}
		if i > 0 && !b[i-1].Position.Less(y.Position) {
			t.Fatalf("%s: positions not increasing at %d", what, i)
		}
		if x.PIIErased {
			erased++
		}
	}
	if erased == 0 {
		t.Fatalf("%s: no erased event in the log, the test lost its erasure case", what)
	}
}

// interruptAfter cancels the copy's context once n events are copied.
func interruptAfter(n int64) (context.Context, func(logcopy.Progress)) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func(p logcopy.Progress) {
		if p.Copied >= n {
			cancel()
		}
	}
}

// crashingCheckpoint stops saving (and fails the copy) after `after`
// saves: the append before the failed save is stored, its checkpoint is
// not, as when a process dies between the two.
type crashingCheckpoint struct {
	logcopy.Checkpoint
	after int
}

var errCrash = errors.New("simulated crash")

func (c *crashingCheckpoint) Save(ctx context.Context, pos events.Position) error {
	if c.after == 0 {
		return errCrash
	}
	c.after--
	return c.Checkpoint.Save(ctx, pos)
}

// copyInterrupted copies src into dst in three runs: one cancelled part
// way, one that "crashes" between an append and its checkpoint, and a
// last one (cutting runs differently) that completes.
func copyInterrupted(t *testing.T, src, dst eventlog.EventLog, eraser eventlog.Eraser, total int, name string) {
	t.Helper()
	cp := &logcopy.FileCheckpoint{Path: filepath.Join(t.TempDir(), name+".json"), Source: "src", Destination: name}

	ctx, progress := interruptAfter(int64(total / 3))
	res, err := logcopy.Copy(ctx, src, dst, logcopy.Options{Checkpoint: cp, Eraser: eraser, Progress: progress, Logger: quiet})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: interrupted copy returned %v after %d events", name, err, res.Events)
	}
	first, err := cp.Load(context.Background())
	if err != nil || first.IsZero() {
		t.Fatalf("%s: checkpoint after the interruption: %v, %v", name, first, err)
	}

	crash := &crashingCheckpoint{Checkpoint: cp, after: 40}
	res, err = logcopy.Copy(context.Background(), src, dst, logcopy.Options{Checkpoint: crash, Eraser: eraser, BatchEvents: 3, Logger: quiet})
	if !errors.Is(err, errCrash) {
		t.Fatalf("%s: crashing copy returned %v", name, err)
	}
	if res.Events == 0 {
		t.Fatalf("%s: the resumed copy did not continue", name)
	}

	res, err = logcopy.Copy(context.Background(), src, dst, logcopy.Options{Checkpoint: cp, Eraser: eraser, BatchEvents: 7, Logger: quiet})
	if err != nil {
		t.Fatalf("%s: resumed copy: %v", name, err)
	}
	if res.Events == 0 || res.Events >= int64(total) {
		t.Fatalf("%s: the last run copied %d of %d events: it did not resume", name, res.Events, total)
	}
	// A further run finds nothing new.
	res, err = logcopy.Copy(context.Background(), src, dst, logcopy.Options{Checkpoint: cp, Eraser: eraser, Logger: quiet})
	if err != nil || res.Events != 0 {
		t.Fatalf("%s: copy of a copied log: %d events, %v", name, res.Events, err)
	}
}

// TestPostgresToKurrentAndBack is the scenario: a 50,000-event
// PostgreSQL log copied to a KurrentDB (the protocol-level stand-in,
// through the real client) and from there to a second PostgreSQL log, each
// copy interrupted and resumed; all three hold identical streams, ids and
// order.
func TestPostgresToKurrentAndBack(t *testing.T) {
	n := logSize(t)
	keyring := newKeyring(t)
	pg1, kdb, pg2 := newPG(t, keyring), newKurrent(t, keyring), newPG(t, keyring)

	start := time.Now()
	fill(t, pg1, pg1, n)
	t.Logf("filled PostgreSQL with %d events in %v", n, time.Since(start))
	want := readAll(t, pg1)
	if len(want) != n {
		t.Fatalf("source holds %d events, want %d", len(want), n)
	}

	start = time.Now()
	copyInterrupted(t, pg1, kdb, kdb, n, "kurrent")
	t.Logf("PostgreSQL -> stand-in: %v", time.Since(start))
	same(t, "stand-in", want, readAll(t, kdb))

	start = time.Now()
	copyInterrupted(t, kdb, pg2, pg2, n, "pg2")
	t.Logf("stand-in -> PostgreSQL: %v", time.Since(start))
	same(t, "second PostgreSQL", want, readAll(t, pg2))
}

// TestDivergedDestination refuses to copy over different events.
func TestDivergedDestination(t *testing.T) {
	keyring := pii.NewMemoryKeyring()
	src, dst := newKurrent(t, keyring), newKurrent(t, keyring)
	ctx := context.Background()
	ev := func(n int) events.Event {
		return events.Event{ID: uuid.New(), Type: "t", SchemaVersion: 1, CorpID: "c", Data: fmt.Appendf(nil, `{"n":%d}`, n)}
	}
	if _, err := src.Append(ctx, "staff-c-1", eventlog.ExpectNoStream, ev(1), ev(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Append(ctx, "staff-c-1", eventlog.ExpectNoStream, ev(3)); err != nil {
		t.Fatal(err)
	}
	_, err := logcopy.Copy(ctx, src, dst, logcopy.Options{Logger: quiet})
	if !errors.Is(err, logcopy.ErrDiverged) {
		t.Fatalf("copy over a different stream: %v, want ErrDiverged", err)
	}
}

// TestPartlyCopiedRun: the destination holds the first part of a run
// (a crashed copy appended smaller runs); the copy appends only the rest.
func TestPartlyCopiedRun(t *testing.T) {
	keyring := pii.NewMemoryKeyring()
	src, dst := newKurrent(t, keyring), newKurrent(t, keyring)
	ctx := context.Background()
	evs := make([]events.Event, 10)
	for i := range evs {
		evs[i] = events.Event{ID: uuid.New(), Type: "t", SchemaVersion: 1, CorpID: "c", Data: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	if _, err := src.Append(ctx, "staff-c-1", eventlog.ExpectNoStream, evs...); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Append(ctx, "staff-c-1", eventlog.ExpectNoStream, evs[:4]...); err != nil {
		t.Fatal(err)
	}
	res, err := logcopy.Copy(ctx, src, dst, logcopy.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled != 1 || res.Events != 10 {
		t.Fatalf("copy handled %d events with %d reconciled runs, want 10 and 1", res.Events, res.Reconciled)
	}
	got, err := dst.ReadStream(ctx, "staff-c-1", 0)
	if err != nil || len(got) != 10 {
		t.Fatalf("destination holds %d events (%v), want 10", len(got), err)
	}
	for i, r := range got {
		if r.ID != evs[i].ID {
			t.Fatalf("destination event %d is %s, want %s", i, r.ID, evs[i].ID)
		}
	}
}

func TestCheckpointFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "cp.json")
	cp := &logcopy.FileCheckpoint{Path: path, Source: "a", Destination: "b"}
	if pos, err := cp.Load(ctx); err != nil || !pos.IsZero() {
		t.Fatalf("missing file: %v, %v", pos, err)
	}
	want := events.Position{Commit: 12, Prepare: 34}
	if err := cp.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	if pos, err := cp.Load(ctx); err != nil || pos != want {
		t.Fatalf("load: %v, %v", pos, err)
	}
	other := &logcopy.FileCheckpoint{Path: path, Source: "a", Destination: "c"}
	if _, err := other.Load(ctx); !errors.Is(err, logcopy.ErrCheckpointMismatch) {
		t.Fatalf("checkpoint of another copy: %v", err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Load(ctx); err == nil {
		t.Fatal("a corrupt checkpoint loaded")
	}
}
