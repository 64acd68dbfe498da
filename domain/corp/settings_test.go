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
