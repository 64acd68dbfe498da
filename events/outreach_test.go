package events

import (
	"errors"
	"reflect"
	"testing"
)

// TestCorpSettingsUpcast: a v1 corp.settings_changed (before the
// mass-message caps were settings) reads with WeCom's defaults for them,
// every other field as stored.
func TestCorpSettingsUpcast(t *testing.T) {
	v1 := `{"staff_capacity":5000,"handover_window_seconds":86400,"in_service_handover_limit":2,
		"in_service_handover_period_seconds":7776000,"max_handover_batch":100,"max_handover_message":200,
		"resigned_assignment_window_seconds":31536000,"group_max_members":500,"group_transfer_limit":2,
		"group_transfer_period_seconds":7776000,"time_zone":"Asia/Shanghai","changed":["staff_capacity"],"changed_by":"admin:a"}`
	p, err := Decode("corp.settings_changed", 1, []byte(v1), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &CorpSettingsChanged{
		StaffCapacity: 5000, HandoverWindowSeconds: 86400, InServiceHandoverLimit: 2, InServiceHandoverPeriodSeconds: 7776000,
		MaxHandoverBatch: 100, MaxHandoverMessage: 200, ResignedAssignmentWindowSeconds: 31536000, GroupMaxMembers: 500,
		GroupTransferLimit: 2, GroupTransferPeriodSeconds: 7776000,
		MassMessageCapDay: "off", MassMessageCapWeek: "off", MassMessageCapMonth: "days_in_month",
		TimeZone: "Asia/Shanghai", Changed: []string{"staff_capacity"}, ChangedBy: "admin:a",
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("upcast v1 = %#v\nwant %#v", p, want)
	}
	for _, bad := range []string{`[]`, `null`, `{"staff_capacity":"x"}`, `{`} {
		if _, err := Decode("corp.settings_changed", 1, []byte(bad), nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("v1 %s: err = %v, want ErrMalformed", bad, err)
		}
	}
}

// TestOutreachStreams: the three stream kinds never name the same stream,
// and all are corp streams (every event log reads those back).
func TestOutreachStreams(t *testing.T) {
	names := []string{
		OutreachMessageStream("c1", "x"), OutreachCustomerStream("c1", "x"), OutreachGroupStream("c1", "x"),
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("stream %s named twice", n)
		}
		seen[n] = true
		if len(n) < len(CorpStreamPrefix) || n[:len(CorpStreamPrefix)] != CorpStreamPrefix {
			t.Errorf("%s is not a corp stream", n)
		}
	}
	if _, ok := CustomerOf(&OutreachDelivered{CustomerID: "x"}); ok {
		t.Error("an outreach ledger event passes for a customer-stream event")
	}
}
