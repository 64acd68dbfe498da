package main

import (
	"testing"
	"time"

	"github.com/custody/custody/adapters/relay/cloudevents"
	"github.com/custody/custody/events"
	"github.com/google/uuid"
)

func TestHandleDropsDuplicates(t *testing.T) {
	handled := map[string]int64{}
	var bodies [][]byte
	for v := range 3 {
		ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: "c", OccurredAt: time.Now(), Actor: "system"},
			&events.MomentsOptedOut{CustomerID: "x", StaffID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := cloudevents.Marshal(events.Recorded{Event: ev, Stream: "customer-c-x", StreamVersion: int64(v)}, false)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	for _, b := range [][]byte{bodies[0], bodies[1], bodies[0], bodies[2], bodies[1]} {
		if err := handle(b, handled); err != nil {
			t.Fatal(err)
		}
	}
	if handled["customer-c-x"] != 2 {
		t.Fatalf("handled up to v%d, want v2", handled["customer-c-x"])
	}
	if err := handle([]byte("junk"), handled); err == nil {
		t.Fatal("junk accepted")
	}
}
