package main

import (
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/events"
	"github.com/google/uuid"
)

func body(t *testing.T, p events.Payload, version int64) []byte {
	t.Helper()
	ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: "c", OccurredAt: time.Now(), Actor: "system"}, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cloudevents.Marshal(events.Recorded{Event: ev, Stream: "customer-c-x", StreamVersion: version}, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleDropsDuplicates(t *testing.T) {
	handled := map[streamKey]int64{}
	var bodies [][]byte
	for v := range 3 {
		bodies = append(bodies, body(t, &events.MomentsOptedOut{CustomerID: "x", StaffID: "s"}, int64(v)))
	}
	for _, b := range [][]byte{bodies[0], bodies[1], bodies[0], bodies[2], bodies[1]} {
		if err := handle("custody.moments", b, handled); err != nil {
			t.Fatal(err)
		}
	}
	if got := handled[streamKey{"custody.moments", "customer-c-x"}]; got != 2 {
		t.Fatalf("handled up to v%d, want v2", got)
	}
	if err := handle("custody.moments", []byte("junk"), handled); err == nil {
		t.Fatal("junk accepted")
	}
}

// One customer stream feeds several topics that are not ordered against
// each other: a later version seen on one topic must not make an earlier
// version on another topic look like a duplicate.
func TestHandleKeepsTopicsApart(t *testing.T) {
	handled := map[streamKey]int64{}
	if err := handle("custody.moments", body(t, &events.MomentsOptedOut{CustomerID: "x", StaffID: "s"}, 5), handled); err != nil {
		t.Fatal(err)
	}
	if err := handle("custody.customer", body(t, &events.CustomerRelationEnded{CustomerID: "x", StaffID: "s", Reason: "deleted_by_customer"}, 4), handled); err != nil {
		t.Fatal(err)
	}
	if got, ok := handled[streamKey{"custody.customer", "customer-c-x"}]; !ok || got != 4 {
		t.Fatalf("custody.customer v4 dropped as a duplicate of custody.moments v5 (handled %v)", handled)
	}
}
