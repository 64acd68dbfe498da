package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestSlotsRepairCommand seeds a log with an orphan reservation (a
// handover reserved but never recorded, as a process killed between the
// old order's two appends left it) and a relation without a slot, runs
// `custody slots repair` twice and checks what it printed.
func TestSlotsRepairCommand(t *testing.T) {
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	if err := slotsCmd(ctx, nil, &stdout, &stderr); !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "usage: custody slots repair") {
		t.Fatalf("slots without a verb: %v, %q", err, stderr.String())
	}
	env := newCLIEnv(t, "slots", 7)
	log, eraser := env.log, env.eraser
	h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Settings: commands.DefaultSettings{}})
	if err != nil {
		t.Fatal(err)
	}
	m := commands.Meta{CorpID: "acme"}
	for _, id := range []string{"a", "b"} {
		if _, err := h.JoinStaff(ctx, commands.JoinStaff{Meta: m, StaffID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.StartRelation(ctx, commands.StartRelation{Meta: m, CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorStaff}); err != nil {
		t.Fatal(err)
	}
	raw := func(stream string, p events.Payload) {
		ev, err := events.New(uuid.New(), events.Meta{CorpID: "acme", OccurredAt: time.Now(), Actor: "system"}, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, stream, eventlog.ExpectAny, ev); err != nil {
			t.Fatal(err)
		}
	}
	raw(events.StaffStream("acme", "b"), &events.StaffSlotReserved{StaffID: "b", CustomerID: "c1", Reason: events.SlotForHandover, HandoverID: "lost"})
	raw(events.CustomerStream("acme", "c2"), &events.CustomerRelationStarted{CustomerID: "c2", StaffID: "b", Initiator: events.InitiatorCustomer, StartedBy: events.StartedByAdd})

	stdout.Reset()
	if err := slotsCmd(ctx, []string{"repair", "--corp", "acme"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{
		"corp acme customer c1 staff b: staff.slot_released (orphaned)\n",
		"corp acme customer c2 staff b: staff.slot_reserved (added)\n",
		"3 pairs checked in 1 corps, 2 repaired\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first repair printed\n%s\nwant a line %q", out, want)
		}
	}
	stdout.Reset()
	if err := slotsCmd(ctx, []string{"repair"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "3 pairs checked in 1 corps, 0 repaired\n" {
		t.Fatalf("second repair printed %q", got)
	}
}
