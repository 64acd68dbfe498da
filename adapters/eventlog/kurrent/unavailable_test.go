package kurrent

import (
	"errors"
	"fmt"
	"testing"

	"github.com/custody/custody/events/eventlog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestUnavailable: the client's "cannot reach the cluster" answers become
// eventlog.ErrUnavailable; other answers keep their meaning.
func TestUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "connection refused"), true},
		{fmt.Errorf("wrapped: %w", status.Error(codes.DeadlineExceeded, "deadline")), true},
		{status.Error(codes.InvalidArgument, "too big"), false},
		{status.Error(codes.Internal, "bug"), false},
		{errors.New("other"), false},
	} {
		got := unavailable(c.err)
		if errors.Is(got, eventlog.ErrUnavailable) != c.want || !errors.Is(got, c.err) {
			t.Errorf("unavailable(%v) = %v, want ErrUnavailable %v", c.err, got, c.want)
		}
	}
	if unavailable(nil) != nil {
		t.Error("unavailable(nil) != nil")
	}
}
