package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestUnavailable: with the pool gone, every port method returns
// eventlog.ErrUnavailable, the driver's error still in the chain.
func TestUnavailable(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{})
	ctx := context.Background()
	ev := events.Event{ID: uuid.New(), Type: "staff.joined", SchemaVersion: 1, CorpID: "c1", Data: []byte(`{"staff_id":"a"}`)}
	if _, err := s.Append(ctx, "staff-c1-a", eventlog.ExpectNoStream, ev); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	ev.ID = uuid.New()
	_, appendErr := s.Append(ctx, "staff-c1-a", eventlog.ExpectAny, ev)
	_, readErr := s.ReadStream(ctx, "staff-c1-a", 0)
	_, allErr := s.ReadAll(ctx, events.Start, 10)
	_, headErr := s.Head(ctx)
	for name, err := range map[string]error{"append": appendErr, "read stream": readErr, "read all": allErr, "head": headErr} {
		if !errors.Is(err, eventlog.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
	}
	// The caller's own cancellation is not an outage.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ReadStream(cctx, "staff-c1-a", 0); errors.Is(err, eventlog.ErrUnavailable) {
		t.Errorf("cancelled read: %v", err)
	}
}

func TestIsConnFailure(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "57P03"}, true},
		{fmt.Errorf("x: %w", &pgconn.PgError{Code: "08006"}), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "22021"}, false},
		{io.ErrUnexpectedEOF, true},
		{errors.New("syntax"), false},
		{nil, false},
	} {
		if got := pgstore.IsConnFailure(c.err); got != c.want {
			t.Errorf("IsConnFailure(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
