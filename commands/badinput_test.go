package commands_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestBadInputAppendsNothing: every malformed command or refused rule
// returns a typed error and leaves the log's head where it was.
func TestBadInputAppendsNothing(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		// A stream holding an event type the catalog does not know.
		_, err := log.Append(f.ctx, events.CustomerStream(corpID, "c-bad"), eventlog.ExpectNoStream, events.Event{
			ID: uuid.New(), Type: "customer.teleported", SchemaVersion: 1, CorpID: corpID, OccurredAt: t0, Data: []byte(`{}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := f.ctx
		h := f.h
		noCorp := commands.Meta{}
		otherCorp := commands.Meta{CorpID: "nobody"}
		long := strings.Repeat("长", 201)
		for _, tc := range []struct {
			name  string
			run   func() error
			want  error
			field string
		}{
			{"empty corp", func() error {
				_, err := h.StartRelation(ctx, commands.StartRelation{Meta: noCorp, CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorStaff})
				return err
			}, commands.ErrInvalidCommand, "corp_id"},
			{"unknown corp", func() error {
				_, err := h.StartRelation(ctx, commands.StartRelation{Meta: otherCorp, CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorStaff})
				return err
			}, commands.ErrUnknownCorp, ""},
			{"empty customer id", func() error {
				_, err := h.StartRelation(ctx, commands.StartRelation{Meta: meta(), StaffID: "a", Initiator: events.InitiatorStaff})
				return err
			}, commands.ErrInvalidCommand, "customer_id"},
			{"empty staff id", func() error {
				_, err := h.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: "c1", Initiator: events.InitiatorStaff})
				return err
			}, commands.ErrInvalidCommand, "staff_id"},
			{"unknown initiator", func() error {
				_, err := h.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: "c2", StaffID: "a", Initiator: "robot"})
				return err
			}, customer.ErrInvalidArgument, ""},
			{"over-long message", func() error {
				_, err := h.RequestHandover(ctx, commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1"}, Message: long})
				return err
			}, commands.ErrInvalidCommand, "message"},
			{"unknown handover kind", func() error {
				_, err := h.RequestHandover(ctx, commands.RequestHandover{Meta: meta(), Kind: "teleport", FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1"}})
				return err
			}, commands.ErrInvalidCommand, "kind"},
			{"duplicate customer in a batch", func() error {
				_, err := h.RequestHandover(ctx, commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1", "c1"}})
				return err
			}, commands.ErrInvalidCommand, "customer_ids"},
			{"handover to oneself", func() error {
				_, err := h.RequestHandover(ctx, commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "a", CustomerIDs: []string{"c1"}})
				return err
			}, commands.ErrInvalidCommand, "to_staff_id"},
			{"unknown end reason", func() error {
				_, err := h.EndRelation(ctx, commands.EndRelation{Meta: meta(), CustomerID: "c1", StaffID: "a", Reason: events.EndHandedOver})
				return err
			}, commands.ErrInvalidCommand, "reason"},
			{"unknown consent purpose", func() error {
				_, err := h.RecordConsent(ctx, commands.RecordConsent{Meta: meta(), CustomerID: "c1", Purpose: "x", State: events.ConsentAgree})
				return err
			}, commands.ErrInvalidCommand, "purpose"},
			{"negative capacity", func() error {
				_, err := h.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "z", Capacity: -1})
				return err
			}, commands.ErrInvalidCommand, "capacity"},
			{"unknown event type in the stream", func() error {
				_, err := h.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: "c-bad", StaffID: "a", Initiator: events.InitiatorStaff})
				return err
			}, events.ErrUnknownType, ""},
			{"rule: edit without relation", func() error {
				_, err := h.EditRelation(ctx, commands.EditRelation{Meta: meta(), CustomerID: "c9", StaffID: "a"})
				return err
			}, customer.ErrRelationNotActive, ""},
			{"rule: join twice", func() error {
				_, err := h.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "a"})
				return err
			}, staff.ErrAlreadyJoined, ""},
			{"rule: refuse unknown handover", func() error {
				_, err := h.RefuseHandover(ctx, commands.RefuseHandover{Meta: meta(), CustomerID: "c1", HandoverID: "nope"})
				return err
			}, customer.ErrHandoverNotFound, ""},
			{"settle for an unknown corp", func() error {
				_, err := h.SettleDue(ctx, "nobody", t0)
				return err
			}, commands.ErrUnknownCorp, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				head := f.head()
				err := tc.run()
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if tc.field != "" {
					var fe *commands.FieldError
					if !errors.As(err, &fe) || fe.Field != tc.field {
						t.Fatalf("err = %#v, want a FieldError for %s", err, tc.field)
					}
				}
				if f.head() != head {
					t.Fatal("appended despite the error")
				}
			})
		}
		_, err = h.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: "c-bad", StaffID: "a", Initiator: events.InitiatorStaff})
		var se *commands.StreamError
		if !errors.As(err, &se) || !errors.Is(err, commands.ErrUnreadableStream) || se.Stream != events.CustomerStream(corpID, "c-bad") {
			t.Fatalf("unreadable stream: %#v", err)
		}
		var ue *commands.UnknownCorpError
		_, err = h.StartRelation(ctx, commands.StartRelation{Meta: otherCorp})
		if !errors.As(err, &ue) || ue.CorpID != "nobody" {
			t.Fatalf("unknown corp: %#v", err)
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	_, err := commands.New(commands.Options{})
	for _, want := range []string{"Log", "Eraser", "Settings"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("New(empty options) = %v, want it to name %s", err, want)
		}
	}
	if _, err := (commands.SettingsMap{"c": {StaffCapacity: -5}}).Settings(context.Background(), "c"); !errors.Is(err, corp.ErrInvalidSettings) {
		t.Fatalf("invalid corp settings: %v", err)
	}
}
