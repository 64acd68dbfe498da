package corp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

func TestApplyValidates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes map[string]string
		wantErr string // empty: accepted
		check   func(corp.Settings) bool
	}{
		{"capacity", map[string]string{"staff_capacity": "5000"}, "", func(s corp.Settings) bool { return s.StaffCapacity == 5000 }},
		{"days", map[string]string{"resigned_assignment_window": "180d"}, "", func(s corp.Settings) bool { return s.ResignedAssignmentWindow == 180*corp.Day }},
		{"hours", map[string]string{"handover_window": "48h"}, "", func(s corp.Settings) bool { return s.HandoverWindow == 48*time.Hour }},
		{"time zone", map[string]string{"time_zone": "Europe/Berlin"}, "", func(s corp.Settings) bool { return s.TimeZone == "Europe/Berlin" }},
		{"UTC", map[string]string{"time_zone": "UTC"}, "", func(s corp.Settings) bool { return s.Location().String() == "UTC" }},
		{"several", map[string]string{"group_max_members": "200", "max_handover_batch": "50"}, "", func(s corp.Settings) bool {
			return s.GroupMaxMembers == 200 && s.MaxHandoverBatch == 50
		}},
		{"unknown field", map[string]string{"staff_capacty": "5"}, `unknown setting "staff_capacty"`, nil},
		{"read-only flag", map[string]string{"handovers_in_wecom": "true"}, `unknown setting "handovers_in_wecom"`, nil},
		{"not a number", map[string]string{"staff_capacity": "many"}, "want a whole number", nil},
		{"zero", map[string]string{"staff_capacity": "0"}, "staff_capacity must be positive", nil},
		{"negative", map[string]string{"group_transfer_limit": "-2"}, "group_transfer_limit must be positive", nil},
		{"too many", map[string]string{"staff_capacity": "1000001"}, "staff_capacity must be at most 1000000", nil},
		{"duration without unit", map[string]string{"handover_window": "24"}, "want a duration", nil},
		{"negative duration", map[string]string{"handover_window": "-1h"}, "handover_window must be positive", nil},
		{"window too long", map[string]string{"handover_window": "31d"}, "handover_window must be at most 30d", nil},
		{"fractions of a second", map[string]string{"handover_window": "1h0.5s"}, "whole seconds", nil},
		{"unknown zone", map[string]string{"time_zone": "Mars/Olympus"}, "IANA time zone", nil},
		{"Local", map[string]string{"time_zone": "Local"}, "IANA time zone", nil},
		{"empty zone", map[string]string{"time_zone": ""}, "IANA time zone", nil},
		{"every problem", map[string]string{"staff_capacity": "0", "time_zone": "x"}, "staff_capacity must be positive", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := corp.Defaults().Apply(tc.changes)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !tc.check(got) {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if err == nil || !errors.Is(err, corp.ErrInvalidSettings) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrInvalidSettings saying %q", err, tc.wantErr)
			}
			if got != (corp.Settings{}) {
				t.Fatalf("a refused change returned settings %+v", got)
			}
		})
	}
}

func TestDurationsRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{time.Hour, 24 * time.Hour, 90 * corp.Day, 90*time.Minute + 5*time.Second} {
		back, err := corp.ParseDuration(corp.FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%v -> %q -> %v, %v", d, corp.FormatDuration(d), back, err)
		}
	}
	if corp.FormatDuration(24*time.Hour) != "24h" || corp.FormatDuration(365*corp.Day) != "365d" {
		t.Fatal(corp.FormatDuration(24*time.Hour), corp.FormatDuration(365*corp.Day))
	}
}

func TestTimeZoneIsEmbedded(t *testing.T) {
	// ZONEINFO pointing at an empty directory is ignored; the machine's
	// zoneinfo or else the embedded tzdata (import _ "time/tzdata") answers.
	t.Setenv("ZONEINFO", t.TempDir())
	s, err := corp.Defaults().Apply(map[string]string{"time_zone": "America/Sao_Paulo"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Location().String() != "America/Sao_Paulo" || corp.Defaults().Location().String() != "Asia/Shanghai" {
		t.Fatal(s.Location(), corp.Defaults().Location())
	}
}

func record(t *testing.T, v int64, p events.Payload, at time.Time) events.Recorded {
	t.Helper()
	e, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: "c", OccurredAt: at, Actor: "admin:t1"}, p)
	if err != nil {
		t.Fatal(err)
	}
	return events.Recorded{Event: e, Stream: events.CorpSettingsStream("c"), StreamVersion: v}
}

func TestConfigChangesAndAuditTrail(t *testing.T) {
	c := corp.NewConfig()
	if c.Settings() != corp.Defaults() || c.Version() != -1 {
		t.Fatalf("new config %+v", c.Settings())
	}
	// A no-op change records nothing.
	if pays, err := c.Change(corp.Defaults(), "admin:t1"); err != nil || len(pays) != 0 {
		t.Fatalf("no-op change: %v %v", pays, err)
	}
	// An invalid one is refused.
	bad := corp.Defaults()
	bad.StaffCapacity = -1
	if _, err := c.Change(bad, "admin:t1"); !errors.Is(err, corp.ErrInvalidSettings) {
		t.Fatalf("invalid change: %v", err)
	}
	next, err := corp.Defaults().Apply(map[string]string{"staff_capacity": "3", "time_zone": "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	pays, err := c.Change(next, "admin:t1")
	if err != nil || len(pays) != 1 {
		t.Fatalf("change: %v %v", pays, err)
	}
	e := pays[0].(*events.CorpSettingsChanged)
	if strings.Join(e.Changed, ",") != "staff_capacity,time_zone" || e.ChangedBy != "admin:t1" {
		t.Fatalf("event %+v", e)
	}
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	c, err = corp.RehydrateConfig([]events.Recorded{record(t, 0, e, at)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings() != next || c.Version() != 0 {
		t.Fatalf("rehydrated %+v, want %+v", c.Settings(), next)
	}
	h := c.History()
	if len(h) != 1 || h[0].By != "admin:t1" || !h[0].At.Equal(at) || h[0].Settings != next {
		t.Fatalf("history %+v", h)
	}
	if pays, _ := c.Change(next, "admin:t2"); len(pays) != 0 {
		t.Fatal("the same settings again recorded a change")
	}
}
