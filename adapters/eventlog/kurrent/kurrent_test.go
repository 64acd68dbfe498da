package kurrent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/custody/custody/adapters/testkit/poll"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rawClient is a plain esdb client, for writing what custody would not
// (other applications' streams, malformed events) and reading raw records.
func rawClient(t *testing.T, url string) *esdb.Client {
	t.Helper()
	conf, err := esdb.ParseConnectionString(url)
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

func rawAppend(t *testing.T, c *esdb.Client, stream string, data, meta []byte) {
	t.Helper()
	_, err := c.AppendToStream(ctxT(t), stream, esdb.AppendToStreamOptions{}, esdb.EventData{
		EventID: uuid.New(), EventType: "foreign.thing", ContentType: esdb.ContentTypeJson, Data: data, Metadata: meta,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// productionLog opens the adapter with its defaults: no namespace, only
// custody's stream prefixes.
func productionLog(t *testing.T, url string, opts kurrent.Options) *kurrent.Log {
	t.Helper()
	if opts.Keyring == nil {
		opts.Keyring = pii.NewMemoryKeyring()
	}
	opts.Logger = quiet
	l, err := kurrent.Open(ctxT(t), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func ids(recs []events.Recorded) []uuid.UUID {
	out := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestOnlyCustodyStreamsAreDelivered(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	raw := rawClient(t, srv.URL())
	l := productionLog(t, srv.URL(), kurrent.Options{})
	ctx := ctxT(t)

	var want []uuid.UUID
	for i, stream := range []string{"customer-c1-u1", "staff-c1-s1", "groupchat-c1-g1"} {
		e := storetest.Event(i)
		if _, err := l.Append(ctx, stream, eventlog.ExpectNoStream, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
		rawAppend(t, raw, "orders-"+stream, []byte(`{}`), []byte(`not json`))
		srv.AppendSystemEvent("$stats-"+stream, "$statsCollected")
	}
	// Appending to a stream ReadAll would never show is refused.
	if _, err := l.Append(ctx, "orders-1", eventlog.ExpectAny, storetest.Event(9)); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Fatalf("append outside custody's prefixes: %v, want ErrInvalidEvent", err)
	}
	got, err := l.ReadAll(ctx, events.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(got), want) {
		t.Fatalf("ReadAll delivered %v, want only custody's %v", ids(got), want)
	}
	head, err := l.Head(ctx)
	if err != nil || head != got[2].Position {
		t.Fatalf("head %v (err %v), want the newest custody event's %v", head, err, got[2].Position)
	}
	var sub []uuid.UUID
	stop := errors.New("stop")
	err = l.Subscribe(ctx, events.Start, func(r events.Recorded) error {
		sub = append(sub, r.ID)
		if len(sub) == len(want) {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !reflect.DeepEqual(sub, want) {
		t.Fatalf("Subscribe delivered %v (err %v), want %v", sub, err, want)
	}
}

func TestNamespacesDoNotSeeEachOther(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	keyring := pii.NewMemoryKeyring()
	a := productionLog(t, srv.URL(), kurrent.Options{Keyring: keyring, Namespace: "tenant-a/"})
	b := productionLog(t, srv.URL(), kurrent.Options{Keyring: keyring, Namespace: "tenant-b/"})
	ctx := ctxT(t)
	ea, eb := storetest.Event(1), storetest.Event(2)
	if _, err := a.Append(ctx, "customer-c-1", eventlog.ExpectNoStream, ea); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "customer-c-1", eventlog.ExpectNoStream, eb); err != nil {
		t.Fatalf("the same custody stream in another namespace: %v", err)
	}
	for name, tc := range map[string]struct {
		l    *kurrent.Log
		want uuid.UUID
	}{"a": {a, ea.ID}, "b": {b, eb.ID}} {
		all, err := tc.l.ReadAll(ctx, events.Start, 10)
		if err != nil || len(all) != 1 || all[0].ID != tc.want || all[0].Stream != "customer-c-1" {
			t.Fatalf("namespace %s reads %v (err %v)", name, all, err)
		}
	}
	raw := rawClient(t, srv.URL())
	if _, err := raw.ReadStream(ctx, "tenant-a/customer-c-1", esdb.ReadStreamOptions{}, 1); err != nil {
		t.Fatalf("the namespaced stream is not on the server under its full name: %v", err)
	}
}

func TestAnyRetryOfTheNewestEventsIsIdempotent(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	ctx := ctxT(t)
	evs := []events.Event{storetest.Event(1), storetest.Event(2)}

	l := productionLog(t, srv.URL(), kurrent.Options{})
	orig, err := l.Append(ctx, "customer-c-1", eventlog.ExpectAny, evs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Append(ctx, "customer-c-1", eventlog.ExpectAny, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if again.Events[1].Position != orig.Events[1].Position || again.NextExpected != 1 {
		t.Fatalf("Any retry wrote again: %v, originally %v", again.Events[1].Position, orig.Events[1].Position)
	}
	recs, _ := l.ReadStream(ctx, "customer-c-1", 0)
	if len(recs) != 2 {
		t.Fatalf("stream holds %d events after an Any retry, want 2", len(recs))
	}

	// Without tail resolution the server's best effort is all there is:
	// a server that remembers the ids answers the originals...
	plain := productionLog(t, srv.URL(), kurrent.Options{DisableResolveAny: true})
	if _, err := plain.Append(ctx, "customer-c-1", eventlog.ExpectAny, evs...); err != nil {
		t.Fatal(err)
	}
	recs, _ = l.ReadStream(ctx, "customer-c-1", 0)
	if len(recs) != 2 {
		t.Fatalf("stream holds %d events after a plain Any retry on a deduplicating server, want 2", len(recs))
	}
	// ...and one whose cache forgot them writes again.
	weak := startStandin(t, kurrentstandin.Options{NoAnyDeduplication: true})
	plain = productionLog(t, weak.URL(), kurrent.Options{DisableResolveAny: true})
	for range 2 {
		if _, err := plain.Append(ctx, "customer-c-1", eventlog.ExpectAny, evs...); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ = plain.ReadStream(ctx, "customer-c-1", 0)
	if len(recs) != 4 {
		t.Fatalf("stream holds %d events after a plain Any retry, want 4", len(recs))
	}
}

func TestSubscribeResubscribesAfterADrop(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	l := productionLog(t, srv.URL(), kurrent.Options{ResubscribeMin: time.Millisecond})
	ctx := ctxT(t)
	var (
		mu  sync.Mutex
		got []events.Recorded
	)
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- l.Subscribe(subCtx, events.Start, func(r events.Recorded) error {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
			return nil
		})
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	var want []uuid.UUID
	appendSome := func(n int) {
		for i := range n {
			e := storetest.Event(i)
			if _, err := l.Append(ctx, fmt.Sprintf("staff-c-%d", i%3), eventlog.ExpectAny, e); err != nil {
				t.Fatal(err)
			}
			want = append(want, e.ID)
		}
	}
	appendSome(20)
	poll.Until(t, "20 events", func() bool { return count() == 20 })
	for round := range 3 {
		poll.Until(t, "a subscription", func() bool { return srv.Subscriptions() == 1 })
		if n := srv.DropSubscriptions(); n != 1 {
			t.Fatalf("round %d: dropped %d subscriptions", round, n)
		}
		appendSome(10) // while the adapter is resubscribing
	}
	poll.Until(t, "every event", func() bool { return count() >= len(want) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe ended with %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(ids(got), want) {
		t.Fatalf("across drops the subscriber got %d events, want %d exactly once in order", len(got), len(want))
	}
}

func TestRecoversWhenTheFirstConnectionFails(t *testing.T) {
	// A free port with nothing listening yet.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()

	conf, err := esdb.ParseConnectionString("esdb://" + addr + "?tls=false&maxDiscoverAttempts=1&discoveryInterval=1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := kurrent.New(*conf, kurrent.Options{Keyring: pii.NewMemoryKeyring(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Head(ctxT(t)); err == nil {
		t.Fatal("head succeeded with no server")
	}
	startStandin(t, kurrentstandin.Options{Addr: addr})
	// The v4.2.0 client marks itself closed for good after a failed
	// discovery; the adapter must build a new one.
	if _, err := l.Append(ctxT(t), "customer-c-1", eventlog.ExpectNoStream, storetest.Event(1)); err != nil {
		t.Fatalf("append once the server is up: %v", err)
	}
}

// TestAppendPositionsOnOldServers: servers before 22.6 leave $all
// positions out of stream reads; appends still report the right ones.
func TestAppendPositionsOnOldServers(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{LegacyStreamReadPositions: true})
	l := productionLog(t, srv.URL(), kurrent.Options{})
	ctx := ctxT(t)
	var got []events.Recorded
	for i := range 6 {
		srv.AppendSystemEvent("$noise", "$noise") // other writers in between
		res, err := l.Append(ctx, fmt.Sprintf("staff-c-%d", i%2), eventlog.ExpectAny, storetest.Event(3*i), storetest.Event(3*i+1), storetest.Event(3*i+2))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Events...)
	}
	all, err := l.ReadAll(ctx, events.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(got) {
		t.Fatalf("read %d events, appended %d", len(all), len(got))
	}
	for i := range all {
		if all[i].ID != got[i].ID || all[i].Position != got[i].Position {
			t.Fatalf("event %d: appended at %v, $all has %s at %v", i, got[i].Position, all[i].ID, all[i].Position)
		}
	}
}

// TestServerWithoutFeatures: a server without the ServerFeatures service
// (it answers Unimplemented) works all the same.
func TestServerWithoutFeatures(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{DisableServerFeatures: true})
	l := productionLog(t, srv.URL(), kurrent.Options{})
	ctx := ctxT(t)
	e := storetest.Event(1)
	if _, err := l.Append(ctx, "staff-c-1", eventlog.ExpectNoStream, e); err != nil {
		t.Fatal(err)
	}
	got, err := l.ReadAll(ctx, events.Start, 10)
	if err != nil || len(got) != 1 || got[0].ID != e.ID {
		t.Fatalf("read back %v, %v", got, err)
	}
}

func TestClosed(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	l := productionLog(t, srv.URL(), kurrent.Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := l.Append(ctx, "customer-c-1", eventlog.ExpectAny, storetest.Event(1)); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.ReadAll(ctx, events.Start, 1); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := l.Subscribe(ctx, events.Start, func(events.Recorded) error { return nil }); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

func TestForeignEventInACustodyStreamFailsLoudly(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	rawAppend(t, rawClient(t, srv.URL()), "customer-c-1", []byte(`{}`), []byte(`{"corp_id": ""}`))
	l := productionLog(t, srv.URL(), kurrent.Options{})
	ctx := ctxT(t)
	if _, err := l.ReadStream(ctx, "customer-c-1", 0); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("read stream: %v, want events.ErrMalformed", err)
	}
	if _, err := l.ReadAll(ctx, events.Start, 10); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("read all: %v, want events.ErrMalformed", err)
	}
	// Subscribe reports it instead of resubscribing into it forever.
	err := l.Subscribe(ctx, events.Start, func(events.Recorded) error { return nil })
	if !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("subscribe: %v, want events.ErrMalformed", err)
	}
}

func TestOversizedAppendIsInvalid(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{MaxAppendSize: 4096})
	l := productionLog(t, srv.URL(), kurrent.Options{})
	e := storetest.Event(1)
	e.Data = fmt.Appendf(nil, `{"blob":%q}`, bytes.Repeat([]byte("x"), 8192))
	_, err := l.Append(ctxT(t), "customer-c-1", eventlog.ExpectNoStream, e)
	if !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Fatalf("oversized append: %v, want ErrInvalidEvent", err)
	}
}

// TestStoredShape pins what lands on the server, for KurrentDB tools and
// projections: the payload as JSON data, the catalog's type, the envelope
// in metadata under documented keys, and personal data only sealed.
func TestStoredShape(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	l := productionLog(t, srv.URL(), kurrent.Options{})
	e := storetest.Event(1)
	e.Type = "customer.relation_started"
	e.CommandID, e.CorrelationID, e.CausationID = "cmd-1", "corr-1", "cause-1"
	e.Subject = "customer/corp1/u1"
	e.PII = []byte(`{"remark":"Wang Wei, 13800000000"}`)
	if _, err := l.Append(ctxT(t), "customer-corp1-u1", eventlog.ExpectNoStream, e); err != nil {
		t.Fatal(err)
	}
	rs, err := rawClient(t, srv.URL()).ReadStream(ctxT(t), "customer-corp1-u1", esdb.ReadStreamOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := got.Event
	if r.EventType != e.Type || r.ContentType != "application/json" || string(r.Data) != string(e.Data) || r.EventID != e.ID {
		t.Fatalf("stored %s %s %s %s", r.EventID, r.EventType, r.ContentType, r.Data)
	}
	var md map[string]any
	if err := json.Unmarshal(r.UserMetadata, &md); err != nil {
		t.Fatalf("metadata is not JSON: %v", err)
	}
	for k, want := range map[string]any{
		"corp_id": "corp1", "schema_version": 1.0, "actor": "system", "command_id": "cmd-1",
		"$correlationId": "corr-1", "$causationId": "cause-1", "subject": "customer/corp1/u1",
		"occurred_at": "2026-11-22T01:02:03.456789Z",
	} {
		if md[k] != want {
			t.Errorf("metadata %q = %v, want %v", k, md[k], want)
		}
	}
	if _, ok := md["pii"].(string); !ok {
		t.Errorf("metadata has no sealed pii: %v", md["pii"])
	}
	if bytes.Contains(r.UserMetadata, []byte("Wang")) || bytes.Contains(r.Data, []byte("Wang")) {
		t.Error("personal data stored in plaintext")
	}
}

func TestConnectionString(t *testing.T) {
	for in, want := range map[string]string{
		"kurrentdb://127.0.0.1:2113?tls=false":          "esdb://127.0.0.1:2113?tls=false",
		"KurrentDB://a:1,b:2?tls=true":                  "esdb://a:1,b:2?tls=true",
		"kurrentdb+discover://cluster.example:2113":     "esdb+discover://cluster.example:2113",
		"esdb://admin:changeit@localhost:2113":          "esdb://admin:changeit@localhost:2113",
		"esdb+discover://admin:changeit@cluster.dns:80": "esdb+discover://admin:changeit@cluster.dns:80",
	} {
		got, err := kurrent.ConnectionString(in)
		if err != nil || got != want {
			t.Errorf("ConnectionString(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"postgres://x", "127.0.0.1:2113", ""} {
		if _, err := kurrent.ConnectionString(bad); err == nil {
			t.Errorf("ConnectionString(%q) accepted", bad)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := kurrent.New(esdb.Configuration{}, kurrent.Options{PageSize: -1, Namespace: "$x", StreamPrefixes: []string{}})
	for _, want := range []string{"Keyring", "PageSize", "Namespace", "StreamPrefixes"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
}
