package commands_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestFieldRules: text with control characters, over-long text, integers
// out of range and business times out of bounds are refused by the command
// itself with a *FieldError naming the field, and nothing is appended.
func TestFieldRules(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		f.must(f.h.CreateGroupChat(f.ctx, commands.CreateGroupChat{Meta: meta(), ChatID: "g1", OwnerID: "a", Name: "VIP"}))
		ctx, h := f.ctx, f.h
		nul := "a\x00b"
		at := func(ts time.Time) commands.Meta { return metaAt(ts) }
		rel := func(m commands.Meta, mod func(*commands.StartRelation)) func() error {
			return func() error {
				cmd := commands.StartRelation{Meta: m, CustomerID: "c2", StaffID: "a", Initiator: events.InitiatorStaff}
				if mod != nil {
					mod(&cmd)
				}
				_, err := h.StartRelation(ctx, cmd)
				return err
			}
		}
		edit := func(mod func(*commands.EditRelation)) func() error {
			return func() error {
				cmd := commands.EditRelation{Meta: meta(), CustomerID: "c1", StaffID: "a"}
				mod(&cmd)
				_, err := h.EditRelation(ctx, cmd)
				return err
			}
		}
		for _, tc := range []struct {
			name, field string
			run         func() error
		}{
			{"NUL in remark", "remark", rel(meta(), func(c *commands.StartRelation) { c.Remark = nul })},
			{"NUL in description", "description", edit(func(c *commands.EditRelation) { c.Description = nul })},
			{"NUL in customer name", "customer_name", edit(func(c *commands.EditRelation) { c.CustomerName = nul })},
			{"carriage return in remark", "remark", edit(func(c *commands.EditRelation) { c.Remark = "a\r\nb" })},
			{"C1 control in remark", "remark", edit(func(c *commands.EditRelation) { c.Remark = "a\u0085b" })},
			{"noncharacter in remark", "remark", edit(func(c *commands.EditRelation) { c.Remark = "a\uFFFEb" })},
			{"invalid UTF-8 in remark", "remark", edit(func(c *commands.EditRelation) { c.Remark = "a\xffb" })},
			{"NUL in a phone", "phones[1]", edit(func(c *commands.EditRelation) { c.Phones = []string{"1", nul} })},
			{"NUL in a tag", "tags[0]", rel(meta(), func(c *commands.StartRelation) { c.Tags = []string{nul} })},
			{"NUL in state", "state", rel(meta(), func(c *commands.StartRelation) { c.State = nul })},
			{"too many phones", "phones", edit(func(c *commands.EditRelation) { c.Phones = make([]string, commands.MaxPhones+1) })},
			{"over-long remark", "remark", edit(func(c *commands.EditRelation) { c.Remark = strings.Repeat("长", commands.MaxRemarkLen+1) })},
			{"add_way over int4", "add_way", rel(meta(), func(c *commands.StartRelation) { c.AddWay = commands.MaxAddWay + 1 })},
			{"negative add_way", "add_way", rel(meta(), func(c *commands.StartRelation) { c.AddWay = -1 })},
			{"NUL in a nickname", "nickname", func() error {
				_, err := h.JoinGroupChat(ctx, commands.JoinGroupChat{Meta: meta(), ChatID: "g1", MemberID: "c1", MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode, Nickname: nul})
				return err
			}},
			{"NUL in a group name", "name", func() error {
				_, err := h.RenameGroupChat(ctx, commands.RenameGroupChat{Meta: meta(), ChatID: "g1", Name: nul})
				return err
			}},
			{"NUL in a group notice", "notice", func() error {
				_, err := h.ChangeGroupNotice(ctx, commands.ChangeGroupNotice{Meta: meta(), ChatID: "g1", Notice: nul})
				return err
			}},
			{"NUL in a staff name", "name", func() error {
				_, err := h.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "z", Name: nul})
				return err
			}},
			{"NUL in a handover message", "message", func() error {
				_, err := h.RequestHandover(ctx, commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1"}, Message: nul})
				return err
			}},
			{"NUL in a moments source", "source", func() error {
				_, err := h.OptOutMoments(ctx, commands.OptOutMoments{Meta: meta(), CustomerID: "c1", StaffID: "a", Source: nul})
				return err
			}},
			{"NUL in the actor", "actor", rel(commands.Meta{CorpID: corpID, Actor: nul}, nil)},
			{"capacity over the maximum", "capacity", func() error {
				_, err := h.ChangeStaffCapacity(ctx, commands.ChangeStaffCapacity{Meta: meta(), StaffID: "a", Capacity: 2147483648})
				return err
			}},
			{"joining with capacity over the maximum", "capacity", func() error {
				_, err := h.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "z", Capacity: commands.MaxCapacity + 1})
				return err
			}},
			// (Year 1 00:00 UTC is the zero time: "not given", the clock's now.
			// The HTTP edge refuses it when a client sends it.)
			{"occurred in year 1", "occurred_at", rel(at(time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)), nil)},
			{"occurred in 1970", "occurred_at", rel(at(time.Unix(0, 0)), nil)},
			{"occurred just before the floor", "occurred_at", rel(at(commands.MinOccurredAt.Add(-time.Nanosecond)), nil)},
			{"occurred in 2099", "occurred_at", rel(at(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)), nil)},
			{"occurred in 9999", "occurred_at", rel(at(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), nil)},
			{"occurred beyond the skew", "occurred_at", rel(at(t0.Add(commands.MaxClockSkew+time.Second)), nil)},
			{"settle as of the future", "as_of", func() error {
				_, err := h.SettleDue(ctx, corpID, t0.Add(time.Second))
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				head := f.head()
				err := tc.run()
				var fe *commands.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, commands.ErrInvalidCommand) {
					t.Fatalf("err = %v, want a FieldError for %s", err, tc.field)
				}
				if strings.Contains(err.Error(), "\x00") {
					t.Fatalf("the error quotes the input: %q", err)
				}
				if f.head() != head {
					t.Fatal("appended despite the error")
				}
			})
		}
		// The edges of the ranges are accepted.
		f.must(f.h.ChangeStaffCapacity(ctx, commands.ChangeStaffCapacity{Meta: meta(), StaffID: "a", Capacity: commands.MaxCapacity}))
		f.must(f.h.StartRelation(ctx, commands.StartRelation{Meta: metaAt(commands.MinOccurredAt), CustomerID: "c3", StaffID: "a",
			Initiator: events.InitiatorCustomer, AddWay: commands.MaxAddWay, Remark: "line 1\n\tline 2"}))
		f.must(f.h.StartRelation(ctx, commands.StartRelation{Meta: metaAt(t0.Add(commands.MaxClockSkew)), CustomerID: "c4", StaffID: "b",
			Initiator: events.InitiatorStaff}))
	})
}

// TestSettleNeverBeforeTheDeadline: settling as of a time within the clock
// skew, or as of now before the deadline, completes nothing, and the
// customer can still refuse a minute later.
func TestSettleNeverBeforeTheDeadline(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		b, err := f.h.RequestHandover(f.ctx, commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1"}})
		if err != nil || b.Outcomes[0].Status != "pending" {
			t.Fatalf("request: %v %+v", err, b)
		}
		// One second before the deadline by the clock, as of the deadline.
		f.clock.set(b.Outcomes[0].Deadline.Add(-time.Second))
		if _, err := f.h.SettleDue(f.ctx, corpID, b.Outcomes[0].Deadline.Add(time.Hour)); !errors.Is(err, commands.ErrInvalidCommand) {
			t.Fatalf("settle as of the future: %v", err)
		}
		rep, err := f.h.SettleDue(f.ctx, corpID, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Count("completed") != 0 {
			t.Fatalf("settled before the deadline: %+v", rep)
		}
		if _, err := f.h.RefuseHandover(f.ctx, commands.RefuseHandover{Meta: meta(), CustomerID: "c1", HandoverID: b.Outcomes[0].HandoverID}); err != nil {
			t.Fatalf("refusal within the window: %v", err)
		}
	})
}

// TestValidateAppendText: every log refuses events whose strings break the
// text rule, however the JSON spells them.
func TestValidateAppendText(t *testing.T) {
	ev := func(data, pii string) events.Event {
		e := events.Event{ID: uuid.New(), Type: "staff.joined", SchemaVersion: 1, CorpID: corpID, OccurredAt: t0, Data: []byte(data)}
		if pii != "" {
			e.PII, e.Subject = []byte(pii), "staff/corp1/a"
		}
		return e
	}
	good := []events.Event{
		ev(`{"staff_id":"a"}`, `{"name":"王五\n\t\u00e9 \ud83d\ude00 \\u0000"}`),
		ev(`{"staff_id":"a","x":["\"","\\","\/"]}`, ""),
	}
	for _, e := range good {
		if err := eventlog.ValidateAppend("staff-corp1-a", eventlog.ExpectAny, []events.Event{e}); err != nil {
			t.Fatalf("%s %s: %v", e.Data, e.PII, err)
		}
	}
	bad := []events.Event{
		ev(`{"staff_id":"a\u0000"}`, ""),
		ev(`{"staff_id":"a"}`, `{"name":"\u0000"}`),
		ev(`{"staff_id":"a"}`, `{"name":"x\ud800"}`),
		ev(`{"staff_id":"a"}`, `{"name":"\udc00x"}`),
		ev(`{"staff_id":"a"}`, `{"name":"\ud800\u0041"}`),
		ev(`{"staff_id":"a"}`, `{"name":"a\rb"}`),
		ev(`{"staff_id":"a"}`, `{"name":"a\u007f"}`),
		ev(`{"staff_id":"a"}`, "{\"name\":\"a\u0085\"}"),
		ev(`{"staff_id":"a"}`, "{\"name\":\"\xff\"}"),
		ev(`{"staff_id":"a"}`, `{"name":"\uffff"}`),
		ev(`{"st\u0001aff_id":"a"}`, ""),
		{ID: uuid.New(), Type: "staff.joined", SchemaVersion: 1, CorpID: "c\x00", OccurredAt: t0, Data: []byte(`{}`)},
		{ID: uuid.New(), Type: "staff.joined", SchemaVersion: 1, CorpID: corpID, Actor: "\x00", OccurredAt: t0, Data: []byte(`{}`)},
	}
	for _, e := range bad {
		err := eventlog.ValidateAppend("staff-corp1-a", eventlog.ExpectAny, []events.Event{e})
		if !errors.Is(err, eventlog.ErrInvalidEvent) {
			t.Errorf("%q %q: err = %v, want ErrInvalidEvent", e.Data, e.PII, err)
		}
	}
	if err := eventlog.ValidateAppend("staff-corp1-\x00", eventlog.ExpectAny, good[:1]); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("NUL in the stream name: %v", err)
	}
	// Every log runs the check: nothing is stored.
	eachLog(t, func(t *testing.T, log eventlog.EventLog, _ eventlog.Eraser) {
		for _, e := range bad[:3] {
			if _, err := log.Append(t.Context(), "staff-corp1-a", eventlog.ExpectAny, e); !errors.Is(err, eventlog.ErrInvalidEvent) {
				t.Fatalf("append %q %q: %v", e.Data, e.PII, err)
			}
		}
		if _, err := log.ReadStream(t.Context(), "staff-corp1-a", 0); !errors.Is(err, eventlog.ErrStreamNotFound) {
			t.Fatalf("something was stored: %v", err)
		}
	})
}
