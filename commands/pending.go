package commands

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// PendingHandover is a handover a PendingHandovers source believes is still
// pending.
type PendingHandover struct {
	CorpID      string
	CustomerID  string
	HandoverID  string
	FromStaffID string
	ToStaffID   string
	Deadline    time.Time
}

// PendingHandovers finds pending handovers, for SettleDue and DepartStaff.
// The projections implement it with a SQL query; LogScan implements it by
// reading the log. An answer may be stale (a handover settled a moment ago
// may still be listed): the handler re-checks each one on its stream, so a
// stale entry costs a read, never a wrong event.
type PendingHandovers interface {
	// PendingHandovers returns corp's pending handovers whose deadline is at
	// or before dueBy, oldest deadline first. A zero dueBy means any
	// deadline.
	PendingHandovers(ctx context.Context, corpID string, dueBy time.Time) ([]PendingHandover, error)
}

// LogScan finds pending handovers by reading the whole log with ReadAll on
// every call. It is exact but O(log size): for tests and small embedded
// deployments.
type LogScan struct {
	Log eventlog.EventLog
	// PageSize is the ReadAll limit; default 1000.
	PageSize int
}

// PendingHandovers implements PendingHandovers.
func (s *LogScan) PendingHandovers(ctx context.Context, corpID string, dueBy time.Time) ([]PendingHandover, error) {
	page := s.PageSize
	if page <= 0 {
		page = 1000
	}
	pending := map[string]PendingHandover{}
	from := events.Start
	for {
		recs, err := s.Log.ReadAll(ctx, from, page)
		if err != nil {
			return nil, fmt.Errorf("commands: scan for pending handovers: %w", err)
		}
		for _, r := range recs {
			from = r.Position
			if r.CorpID != corpID || len(r.Type) < 9 || r.Type[:9] != "handover." {
				continue
			}
			p, err := events.DecodeRecorded(r)
			if err != nil {
				return nil, &StreamError{Stream: r.Stream, Err: err}
			}
			switch e := p.(type) {
			case *events.HandoverRequested:
				pending[e.HandoverID] = PendingHandover{
					CorpID: corpID, CustomerID: e.CustomerID, HandoverID: e.HandoverID,
					FromStaffID: e.FromStaffID, ToStaffID: e.ToStaffID, Deadline: e.Deadline,
				}
			case *events.HandoverRefused:
				delete(pending, e.HandoverID)
			case *events.HandoverCompleted:
				delete(pending, e.HandoverID)
			case *events.HandoverFailed:
				delete(pending, e.HandoverID)
			case *events.HandoverCancelled:
				delete(pending, e.HandoverID)
			}
		}
		// Only an empty page ends the scan: a log may return fewer than
		// asked for while more follow.
		if len(recs) == 0 {
			break
		}
	}
	out := make([]PendingHandover, 0, len(pending))
	for _, p := range pending {
		if dueBy.IsZero() || !p.Deadline.After(dueBy) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Deadline.Equal(out[j].Deadline) {
			return out[i].Deadline.Before(out[j].Deadline)
		}
		return out[i].HandoverID < out[j].HandoverID
	})
	return out, nil
}
