package corp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
)

func TestDefaultsAreWeComs(t *testing.T) {
	d := corp.Defaults()
	want := corp.Settings{
		StaffCapacity: 20000, HandoverWindow: 24 * time.Hour, InServiceHandoverLimit: 2,
		InServiceHandoverPeriod: 90 * 24 * time.Hour, MaxHandoverBatch: 100, MaxHandoverMessage: 200,
		ResignedAssignmentWindow: 365 * 24 * time.Hour, GroupMaxMembers: 500, GroupTransferLimit: 2,
		GroupTransferPeriod: 90 * 24 * time.Hour, TimeZone: "Asia/Shanghai",
	}
	if d != want {
		t.Fatalf("defaults = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := (corp.Settings{StaffCapacity: 5000}).WithDefaults(); got.StaffCapacity != 5000 || got.GroupMaxMembers != 500 {
		t.Fatalf("WithDefaults = %+v", got)
	}
}

func TestValidateJoinsEveryProblem(t *testing.T) {
	err := corp.Settings{StaffCapacity: -1}.Validate()
	if !errors.Is(err, corp.ErrInvalidSettings) {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(err.Error(), "must be positive"); n != 10 {
		t.Fatalf("%d problems reported, want 10: %v", n, err)
	}
}

// TestMassMessageCaps: the cap windows' text forms, defaults and limits.
func TestMassMessageCaps(t *testing.T) {
	d := corp.Defaults()
	if v := d.Values(); v["mass_message_cap_day"] != "off" || v["mass_message_cap_week"] != "off" || v["mass_message_cap_month"] != "days_in_month" {
		t.Fatalf("default caps %v", v)
	}
	feb := time.Date(2026, 2, 10, 0, 0, 0, 0, d.Location())
	if n, on := d.MassMessageCapMonth.Limit(corp.WindowMonth, feb); n != 28 || !on {
		t.Fatalf("February's month cap = %d, %v", n, on)
	}
	if _, on := d.MassMessageCapWeek.Limit(corp.WindowWeek, feb); on {
		t.Fatal("week window on by default")
	}
	s, err := d.Apply(map[string]string{"mass_message_cap_week": "7", "mass_message_cap_day": "1", "mass_message_cap_month": "4"})
	if err != nil {
		t.Fatal(err)
	}
	if s.MassMessageCapWeek != 7 || s.MassMessageCapDay != 1 || s.MassMessageCapMonth != 4 {
		t.Fatalf("caps %+v", s)
	}
	// Writing a default back makes the settings equal to the defaults.
	back, err := s.Apply(map[string]string{"mass_message_cap_week": "off", "mass_message_cap_day": "off", "mass_message_cap_month": "days_in_month"})
	if err != nil || back != d {
		t.Fatalf("back to defaults = %+v, %v", back, err)
	}
	off, err := d.Apply(map[string]string{"mass_message_cap_month": "off"})
	if err != nil || off.Values()["mass_message_cap_month"] != "off" {
		t.Fatalf("month off = %+v, %v", off, err)
	}
	if _, on := off.MassMessageCapMonth.Limit(corp.WindowMonth, feb); on {
		t.Fatal("month off still limits")
	}
	for _, bad := range []map[string]string{
		{"mass_message_cap_day": "days_in_month"}, {"mass_message_cap_week": "0"}, {"mass_message_cap_month": "1001"},
		{"mass_message_cap_day": "-1"}, {"mass_message_cap_week": "seven"},
	} {
		if _, err := d.Apply(bad); !errors.Is(err, corp.ErrInvalidSettings) {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
	if err := (corp.Settings{MassMessageCapDay: corp.CapDaysInMonth}).WithDefaults().Validate(); !errors.Is(err, corp.ErrInvalidSettings) {
		t.Errorf("day cap days_in_month validated: %v", err)
	}
	// Round trip through corp.settings_changed.
	if got := corp.FromEvent(corp.ToEvent(off)); got != off {
		t.Fatalf("event round trip %+v, want %+v", got, off)
	}
}
