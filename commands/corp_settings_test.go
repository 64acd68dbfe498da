package commands_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// newLogSettingsFixture is a fixture whose settings come from the log.
func newLogSettingsFixture(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) (*fixture, *commands.LogSettings) {
	t.Helper()
	f := newFixture(t, log, eraser, corp.Settings{})
	src := &commands.LogSettings{Log: log}
	h, err := commands.New(commands.Options{Log: log, Eraser: f.eraser, Clock: f.clock, Settings: src})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f, src
}

func (f *fixture) changeSettings(actor string, changes map[string]string) (commands.Result, error) {
	m := meta()
	m.Actor = actor
	return f.h.ChangeCorpSettings(f.ctx, commands.ChangeCorpSettings{Meta: m, Changes: changes})
}

// TestChangedSettingChangesTheRule: the resigned-handover window and the
// corp's default capacity, changed through ChangeCorpSettings, decide the
// next commands — the same requests that the defaults accept are refused.
func TestChangedSettingChangesTheRule(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f, _ := newLogSettingsFixture(t, log, eraser)
		f.join("a", "b", "c")
		f.add("c1", "a")
		f.add("c2", "a")
		f.add("c3", "c")
		f.must(f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: "a"}))
		f.clock.set(t0.Add(30 * corp.Day))
		if o := f.request(events.HandoverResigned, "a", "b", "c1").Outcomes[0]; o.Status != customer.StatusPending {
			t.Fatalf("30 days after, default window of a year: %+v", o)
		}
		f.must(f.changeSettings("admin:ops", map[string]string{"resigned_assignment_window": "7d"}))
		if o := f.request(events.HandoverResigned, "a", "b", "c2").Outcomes[0]; !errors.Is(o.Err, customer.ErrAssignmentWindowClosed) {
			t.Fatalf("30 days after, window of 7 days: %+v", o)
		}
		// Capacity: b holds c1's pending slot; at a corp capacity of 1 an
		// in-service handover of c3 to b finds b full.
		f.must(f.changeSettings("admin:ops", map[string]string{"staff_capacity": "1"}))
		o := f.request(events.HandoverInService, "c", "b", "c3").Outcomes[0]
		if o.Status == customer.StatusPending {
			t.Fatalf("handover to a member at the corp's capacity of 1 accepted: %+v", o)
		}
	})
}

func TestChangeCorpSettingsRecordsTheAuditTrail(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f, src := newLogSettingsFixture(t, log, eraser)
		res, err := f.changeSettings("admin:tok1", map[string]string{"handover_window": "48h", "time_zone": "Europe/Berlin"})
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("change: %v %+v", err, res)
		}
		// The same values again: nothing recorded, no error.
		res, err = f.changeSettings("admin:tok2", map[string]string{"handover_window": "2d"})
		if err != nil || len(res.Events) != 0 {
			t.Fatalf("no-op change: %v, %d events", err, len(res.Events))
		}
		f.clock.add(time.Hour)
		f.must(f.changeSettings("cli:root", map[string]string{"staff_capacity": "800"}))
		set, err := src.Settings(f.ctx, corpID)
		if err != nil {
			t.Fatal(err)
		}
		if set.HandoverWindow != 48*time.Hour || set.StaffCapacity != 800 || set.TimeZone != "Europe/Berlin" {
			t.Fatalf("settings %+v", set)
		}
		cfg, err := commands.CorpConfig(f.ctx, log, corpID)
		if err != nil {
			t.Fatal(err)
		}
		h := cfg.History()
		if len(h) != 2 {
			t.Fatalf("history %+v", h)
		}
		if h[0].By != "admin:tok1" || !h[0].At.Equal(t0) || strings.Join(h[0].Changed, ",") != "handover_window,time_zone" {
			t.Fatalf("first change %+v", h[0])
		}
		if h[1].By != "cli:root" || !h[1].At.Equal(t0.Add(time.Hour)) || strings.Join(h[1].Changed, ",") != "staff_capacity" || h[1].Settings != set {
			t.Fatalf("second change %+v", h[1])
		}
		// A corp that never changed anything: defaults, no history.
		other, err := commands.CorpConfig(f.ctx, log, "corp2")
		if err != nil || other.Settings() != corp.Defaults() || len(other.History()) != 0 {
			t.Fatalf("other corp: %v %+v", err, other)
		}
	})
}

func TestChangeCorpSettingsRefusesBadInput(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f, _ := newLogSettingsFixture(t, log, eraser)
		for _, tc := range []struct {
			changes map[string]string
			want    string
		}{
			{map[string]string{"staff_capacity": "0"}, "staff_capacity must be positive"},
			{map[string]string{"colour": "blue"}, `unknown setting "colour"`},
			{map[string]string{"handover_window": "24"}, "want a duration"},
			{map[string]string{"group_transfer_period": "-90d"}, "group_transfer_period must be positive"},
			{map[string]string{"time_zone": "Asia/Beijing"}, "IANA time zone"},
			{map[string]string{"max_handover_batch": "5000", "staff_capacity": "0"}, "staff_capacity must be positive, got 0; max_handover_batch must be at most 1000"},
			{map[string]string{"max_handover_batch": "5000", "staff_capacity": "x"}, "staff_capacity: want a whole number"},
			{map[string]string{"time_zone": "UTC\x00"}, "control"},
		} {
			_, err := f.changeSettings("admin:ops", tc.changes)
			var fe *commands.FieldError
			if !errors.As(err, &fe) || fe.Field != "settings" || !strings.Contains(fe.Problem, tc.want) {
				t.Errorf("%v: err = %v, want a FieldError settings saying %q", tc.changes, err, tc.want)
			}
		}
		if recs := f.stream(events.CorpSettingsStream(corpID)); len(recs) != 0 {
			t.Fatalf("refused changes recorded %d events", len(recs))
		}
	})
}

// TestLogSettingsSeesOtherInstances: a change recorded through another
// handler on the same log (another custody instance) applies to this
// source's next lookup; with MaxAge, after at most MaxAge.
func TestLogSettingsSeesOtherInstances(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f, _ := newLogSettingsFixture(t, log, eraser)
		c := &clock{t: t0}
		fresh := &commands.LogSettings{Log: log}
		aged := &commands.LogSettings{Log: log, MaxAge: 5 * time.Second, Clock: c}
		for _, s := range []*commands.LogSettings{fresh, aged} {
			if set, err := s.Settings(f.ctx, corpID); err != nil || set != corp.Defaults() {
				t.Fatalf("before: %+v %v", set, err)
			}
		}
		f.must(f.changeSettings("admin:ops", map[string]string{"group_max_members": "42"}))
		if set, _ := fresh.Settings(f.ctx, corpID); set.GroupMaxMembers != 42 {
			t.Fatalf("fresh source: %d members", set.GroupMaxMembers)
		}
		if set, _ := aged.Settings(f.ctx, corpID); set.GroupMaxMembers != 500 {
			t.Fatalf("aged source within MaxAge: %d members", set.GroupMaxMembers)
		}
		c.add(5 * time.Second)
		if set, _ := aged.Settings(f.ctx, corpID); set.GroupMaxMembers != 42 {
			t.Fatalf("aged source after MaxAge: %d members", set.GroupMaxMembers)
		}
		if _, err := fresh.Settings(f.ctx, ""); !errors.Is(err, commands.ErrUnknownCorp) {
			t.Fatalf("empty corp: %v", err)
		}
	})
}

// heldSettingsLog holds reads of the settings stream, once armed, after
// they have read (so their answer predates what is committed while they
// are held) until released; it counts them.
type heldSettingsLog struct {
	eventlog.EventLog
	armed   atomic.Bool
	held    chan struct{} // a held read has read
	release chan struct{}
	reads   atomic.Int32
}

func (l *heldSettingsLog) ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	recs, err := l.EventLog.ReadStream(ctx, stream, from)
	if stream == events.CorpSettingsStream(corpID) && l.armed.Load() {
		l.reads.Add(1)
		l.held <- struct{}{}
		<-l.release
	}
	return recs, err
}

// TestLogSettingsSharesOnlyLaterReads: lookups of one corp share reads,
// but a lookup never takes the answer of a read that began before it: a
// read is held after it has read, a change is committed, and lookups
// made after the change — while the held read is in flight — all see the
// change, sharing reads (fewer reads than lookups).
func TestLogSettingsSharesOnlyLaterReads(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f, _ := newLogSettingsFixture(t, log, eraser)
		held := &heldSettingsLog{EventLog: log, held: make(chan struct{}, 16), release: make(chan struct{})}
		src := &commands.LogSettings{Log: held}
		if set, err := src.Settings(f.ctx, corpID); err != nil || set.GroupMaxMembers != 500 {
			t.Fatalf("before: %d members, %v", set.GroupMaxMembers, err)
		}
		held.armed.Store(true)
		first := make(chan corp.Settings, 1)
		go func() {
			set, err := src.Settings(f.ctx, corpID)
			if err != nil {
				t.Error(err)
			}
			first <- set
		}()
		<-held.held // the first lookup's read has read the defaults
		f.must(f.changeSettings("admin:ops", map[string]string{"group_max_members": "42"}))

		const later = 8
		got := make(chan corp.Settings, later)
		for range later {
			go func() {
				set, err := src.Settings(f.ctx, corpID)
				if err != nil {
					t.Error(err)
				}
				got <- set
			}()
		}
		time.Sleep(100 * time.Millisecond) // let them queue behind the held read
		go func() {
			for range held.held {
				held.release <- struct{}{}
			}
		}()
		held.release <- struct{}{}
		for range later {
			if set := <-got; set.GroupMaxMembers != 42 {
				t.Errorf("a lookup made after the change got %d members (the answer of a read begun before it)", set.GroupMaxMembers)
			}
		}
		<-first
		if n := held.reads.Load(); n >= 1+later {
			t.Errorf("%d reads for %d lookups: concurrent lookups did not share reads", n, 1+later)
		}
		close(held.held)
	})
}
