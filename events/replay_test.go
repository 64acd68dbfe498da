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

// TestReplayDecided: a record carrying the payload it was made from hands
// that very payload to apply without decoding its data; one whose payload
// is of another type is decoded as usual.
func TestReplayDecided(t *testing.T) {
	p := &events.StaffJoined{StaffID: "a", Capacity: 7}
	e, err := events.New(uuid.New(), events.Meta{CorpID: "corp1", Actor: "t"}, p)
	if err != nil {
		t.Fatal(err)
	}
	r := events.Recorded{Event: e, Stream: "staff-corp1-a"}
	var got events.Payload
	apply := func(q events.Payload, _ events.Recorded) error { got = q; return nil }
	if err := events.Replay("staff a", []events.Recorded{events.Decided(r, p)}, apply); err != nil || got != events.Payload(p) {
		t.Fatalf("decided: %v, got %#v, want the payload itself", err, got)
	}
	if err := events.Replay("staff a", []events.Recorded{r}, apply); err != nil || got == events.Payload(p) || got.(*events.StaffJoined).Capacity != 7 {
		t.Fatalf("plain: %v, got %#v, want a decoded copy", err, got)
	}
	other := events.Decided(r, &events.StaffDeparted{StaffID: "a"})
	if err := events.Replay("staff a", []events.Recorded{other}, apply); err != nil || got.EventType() != "staff.joined" {
		t.Fatalf("payload of another type: %v, got %#v, want the decoded staff.joined", err, got)
	}
}
