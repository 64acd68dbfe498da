// Package pending answers the command handler's PendingHandovers port
// from the projections' handovers table (the read-model implementation of
// a commands port; commands.LogScan is the one that reads the log).
package pending

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/projections"
)

// Handovers answers the commands' PendingHandovers port from the
// projections' handovers table: an index scan instead of LogScan's full
// read of the log. It lags the log like every read model; the command
// handler re-checks each handover on its stream, so a stale row costs a
// read, never a wrong event.
type Handovers struct {
	Pool *pgxpool.Pool
}

var _ commands.PendingHandovers = Handovers{}

// pendingPage bounds one query; a settle run takes them all, page by page.
const pendingPage = 1000

// farFuture stands for "any deadline".
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// PendingHandovers implements commands.PendingHandovers.
func (p Handovers) PendingHandovers(ctx context.Context, corpID string, dueBy time.Time) ([]commands.PendingHandover, error) {
	if dueBy.IsZero() {
		dueBy = farFuture
	}
	r := projections.NewReader(p.Pool)
	// DueHandovers pages by limit only: ask for more until a short page.
	limit := pendingPage
	for {
		hs, err := r.DueHandovers(ctx, corpID, dueBy, limit)
		if err != nil {
			return nil, err
		}
		if len(hs) < limit {
			out := make([]commands.PendingHandover, 0, len(hs))
			for _, h := range hs {
				out = append(out, commands.PendingHandover{
					CorpID: h.CorpID, CustomerID: h.CustomerID, HandoverID: h.HandoverID,
					FromStaffID: h.FromStaffID, ToStaffID: h.ToStaffID, Deadline: h.Deadline,
				})
			}
			return out, nil
		}
		limit *= 2
	}
}
