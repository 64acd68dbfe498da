package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/projections"
)

// ProjectedPending answers the commands' PendingHandovers port from the
// projections' handovers table: an index scan instead of LogScan's full
// read of the log. It lags the log like every read model; the command
// handler re-checks each handover on its stream, so a stale row costs a
// read, never a wrong event.
type ProjectedPending struct {
	Pool *pgxpool.Pool
}

var _ commands.PendingHandovers = ProjectedPending{}

// pendingPage bounds one query; a settle run takes them all, page by page.
const pendingPage = 1000

// farFuture stands for "any deadline".
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// PendingHandovers implements commands.PendingHandovers.
func (p ProjectedPending) PendingHandovers(ctx context.Context, corpID string, dueBy time.Time) ([]commands.PendingHandover, error) {
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

// SettleJob completes due handovers of every corp periodically: the job
// behind WeCom's 24-hour rule. It finds the corps with due handovers in the
// projections, then lets the command handler settle each corp.
type SettleJob struct {
	Commands *commands.Handler
	Pool     *pgxpool.Pool
	// Every is the period; default one minute.
	Every  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Run settles once at start and then every period until ctx is done.
// Failures are logged and retried at the next tick.
func (j SettleJob) Run(ctx context.Context) error {
	if j.Every <= 0 {
		j.Every = time.Minute
	}
	if j.Now == nil {
		j.Now = time.Now
	}
	if j.Logger == nil {
		j.Logger = slog.Default()
	}
	t := time.NewTicker(j.Every)
	defer t.Stop()
	for {
		if _, err := j.Once(ctx); err != nil && ctx.Err() == nil {
			j.Logger.Error("settle job failed; retrying at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Once settles every corp's due handovers as of now and returns how many
// outcomes were recorded.
func (j SettleJob) Once(ctx context.Context) (int, error) {
	now, logger := time.Now, slog.Default()
	if j.Now != nil {
		now = j.Now
	}
	if j.Logger != nil {
		logger = j.Logger
	}
	asOf := now().UTC()
	due, err := projections.NewReader(j.Pool).DueHandovers(ctx, "", asOf, pendingPage)
	if err != nil {
		return 0, err
	}
	corps := map[string]bool{}
	for _, h := range due {
		corps[h.CorpID] = true
	}
	n := 0
	for corp := range corps {
		rep, err := j.Commands.SettleDue(ctx, corp, asOf)
		if err != nil {
			return n, err
		}
		settled := len(rep.Outcomes) - rep.Count(commands.OutcomeSkipped)
		n += settled
		if settled > 0 {
			logger.Info("settled due handovers", "corp", corp, "completed", rep.Count("completed"), "failed", rep.Count("failed"))
		}
	}
	return n, nil
}
