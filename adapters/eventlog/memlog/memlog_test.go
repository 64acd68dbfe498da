package memlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		l := memlog.New()
		return storetest.Harness{Log: l, Eraser: l}
	})
}

func TestOptions(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	keyring := pii.NewMemoryKeyring()
	l := memlog.New(memlog.WithClock(func() time.Time { return at }), memlog.WithKeyring(keyring))
	e := storetest.Event(1)
	e.Subject, e.PII = "customer/c/1", []byte(`{"name":"x"}`)
	res, err := l.Append(ctx, "s", eventlog.ExpectNoStream, e)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Events[0].RecordedAt.Equal(at) || res.Events[0].Position != (events.Position{Commit: 1, Prepare: 1}) {
		t.Fatalf("recorded at %v position %v, want %v and 1/1", res.Events[0].RecordedAt, res.Events[0].Position, at)
	}
	// The shared keyring's erasure reaches the log.
	if err := keyring.Erase(ctx, "customer/c/1"); err != nil {
		t.Fatal(err)
	}
	recs, err := l.ReadStream(ctx, "s", 0)
	if err != nil || !recs[0].PIIErased {
		t.Fatalf("after erasure through the shared keyring: %+v, %v", recs, err)
	}
}

// Reads hand out copies: a caller scribbling on them cannot change the log.
func TestReadsAreCopies(t *testing.T) {
	ctx := context.Background()
	l := memlog.New()
	e := storetest.Event(1)
	res, err := l.Append(ctx, "s", eventlog.ExpectAny, e)
	if err != nil {
		t.Fatal(err)
	}
	e.Data[1] = 'X'
	res.Events[0].Data[3] = 'Z'
	recs, _ := l.ReadStream(ctx, "s", 0)
	recs[0].Data[2] = 'Y'
	again, _ := l.ReadStream(ctx, "s", 0)
	if string(again[0].Data) != `{"n":1}` || res.Events[0].PIIErased {
		t.Fatalf("stored data changed to %s", again[0].Data)
	}
}
