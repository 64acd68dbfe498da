package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
)

// TestReplay: events reach apply in order; an undecodable event and an
// apply error stop the replay, naming the aggregate and the version.
func TestReplay(t *testing.T) {
	good := func(v int64) events.Recorded {
		e, err := events.New(uuid.New(), events.Meta{CorpID: "corp1", Actor: "t"}, &events.StaffJoined{StaffID: "a"})
		if err != nil {
			t.Fatal(err)
		}
		return events.Recorded{Event: e, Stream: "staff-corp1-a", StreamVersion: v}
	}
	var seen []int64
	if err := events.Replay("staff a", []events.Recorded{good(0), good(1)}, func(_ events.Payload, r events.Recorded) error {
		seen = append(seen, r.StreamVersion)
		return nil
	}); err != nil || len(seen) != 2 || seen[1] != 1 {
		t.Fatalf("replay: %v, saw %v", err, seen)
	}
	refused := errors.New("refused")
	err := events.Replay("staff a", []events.Recorded{good(0), good(1)}, func(_ events.Payload, r events.Recorded) error {
		if r.StreamVersion == 1 {
			return refused
		}
		return nil
	})
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), "staff a: event at version 1") {
		t.Fatalf("apply error: %v", err)
	}
	bad := good(2)
	bad.Type = "no.such.type"
	if err := events.Replay("staff a", []events.Recorded{bad}, func(events.Payload, events.Recorded) error { return nil }); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("undecodable event: %v", err)
	}
}
