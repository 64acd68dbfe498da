package instrumented_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/eventlog/instrumented"
	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestCountsAppendsAndConflicts: the decorator passes appends through
// unchanged and counts their results; a conflict is counted as such.
func TestCountsAppendsAndConflicts(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	l, err := instrumented.New(memlog.New(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ev := func() events.Event {
		e, err := events.New(uuid.New(), events.Meta{CorpID: "c1", OccurredAt: time.Now(), Actor: "system"},
			&events.StaffJoined{StaffID: "s1", PII: events.StaffPII{Name: "n"}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if _, err := l.Append(ctx, "staff-c1-s1", eventlog.ExpectNoStream, ev()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, "staff-c1-s1", eventlog.ExpectNoStream, ev()); !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("second append on a new stream: err %v, want ErrConflict", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "custody_eventlog_append_conflicts_total":
				got["conflicts"] += m.GetCounter().GetValue()
			case "custody_eventlog_append_duration_seconds":
				got[m.GetLabel()[0].GetValue()] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	if got["conflicts"] != 1 || got["ok"] != 1 || got["conflict"] != 1 || got["error"] != 0 {
		t.Errorf("metrics %v, want one ok, one conflict, one conflict counted", got)
	}
	recs, err := l.ReadStream(ctx, "staff-c1-s1", 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("read %d events (err %v), want the 1 appended", len(recs), err)
	}
	// A second decorator on the same registry is refused, not a panic.
	if _, err := instrumented.New(memlog.New(), reg); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
}
