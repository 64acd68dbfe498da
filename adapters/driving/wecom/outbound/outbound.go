// Package outbound carries custody's handovers out in WeCom for corps
// connected with an app secret, and records WeCom's outcome.
//
// The command path stays local: POST /handovers (commands.RequestHandover)
// checks custody's own rules — the 90-day limit, the target's capacity, a
// departed owner's one-year window — and records handover.requested, or
// refuses without any call to WeCom. The Worker, driven by what is
// recorded (the projections' pending handovers), then
//
//  1. writes each new handover to wecom.transfers before asking WeCom
//     ('calling'), then calls transfer_customer (in service) or
//     resigned/transfer_customer (resigned), 100 customers per call, and
//     records WeCom's per-customer answer: errcode 0 → 'waiting';
//     another errcode → handover.failed (rejected_by_wecom). After an
//     ambiguous failure (timeout, -1, HTTP 5xx) the row stays 'calling'
//     and the next round looks at transfer_result before asking again:
//     a customer is never handed over twice by a retry;
//  2. polls transfer_result (following its cursor) while a handover waits,
//     and records WeCom's status: 1 completed → handover.completed (the
//     old relation ends, the new one starts, as SettleDue would record it);
//     3 refused → handover.refused; 4 the new owner at WeCom's limit →
//     handover.failed (target_at_capacity); 5 no record →
//     handover.failed (rejected_by_wecom); 2 waiting → nothing yet.
//
// WeCom's callbacks say the same from their side (transfer_fail; the add
// and the DELETE_BY_TRANSFER delete of a completed handover) and the
// translator (package ingest) records nothing twice. For such corps,
// custody's own settle job never completes a handover by its 24-hour
// clock (corp.Settings.HandoversInWeCom, set by Settings): a handover is
// never recorded as completed while WeCom says otherwise.
package outbound

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
	"github.com/custody/custody/internal/pgmigrate"
	"github.com/custody/custody/projections"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are wecom.transfers and wecom.group_transfers, for pgmigrate
// (listed in cmd/custody/app.go). Version 1 was written with IF NOT EXISTS:
// databases where they were created before pgmigrate are adopted by
// running it once.
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "wecom.outbound", FS: migrations, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// WeCom is the part of WeCom's API the Worker calls (*api.Client).
type WeCom interface {
	TransferCustomers(ctx context.Context, t api.Transfer) ([]api.TransferOutcome, error)
	TransferResults(ctx context.Context, q api.TransferQuery, each func([]api.TransferStatus) error) error
}

var _ WeCom = (*api.Client)(nil)

// Transfer states.
const (
	StateNew     = "new"     // recorded in custody, not asked yet
	StateCalling = "calling" // asked; WeCom's answer unknown
	StateWaiting = "waiting" // WeCom started it; the customer may refuse
	StateDone    = "done"    // outcome recorded (or custody settled it otherwise)
)

// Worker starts custody's pending handovers in WeCom and records WeCom's
// outcomes. Run one per deployment (two would only repeat reads: every
// step re-checks its row and custody's state).
type Worker struct {
	Commands *commands.Handler
	Pool     *pgxpool.Pool
	// Clients gives a corp's API client (api.Clients.Client); a corp
	// without an app secret is skipped.
	Clients func(ctx context.Context, corpID string) (WeCom, error)
	// Corps lists the corps whose handovers WeCom carries out.
	Corps func(ctx context.Context) ([]string, error)
	// Interval between rounds; default 30 s.
	Interval time.Duration
	// Now is the clock of refusals' business time; default time.Now.
	Now     func() time.Time
	Metrics *Metrics
	Logger  *slog.Logger
}

func (w *Worker) defaults() {
	if w.Interval <= 0 {
		w.Interval = 30 * time.Second
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
}

// Run does a round every Interval until ctx is done; a failed round is
// logged and the next one continues where it stopped.
func (w Worker) Run(ctx context.Context) error {
	w.defaults()
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		if _, err := w.Once(ctx); err != nil && ctx.Err() == nil {
			w.Logger.Warn("wecom handovers: round failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Round counts what one round did.
type Round struct {
	Asked, Started, Rejected int
	Polled                   int
	Completed, Refused       int
	Failed, Waiting          int
}

// Once does one round for every corp: new handovers are asked for, open
// ones polled.
func (w Worker) Once(ctx context.Context) (Round, error) {
	w.defaults()
	var rd Round
	corps, err := w.Corps(ctx)
	if err != nil {
		return rd, err
	}
	var errs []error
	for _, corp := range corps {
		cl, err := w.Clients(ctx, corp)
		if errors.Is(err, api.ErrNoSecret) || errors.Is(err, connection.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := w.corp(ctx, corp, cl, &rd); err != nil {
			errs = append(errs, fmt.Errorf("corp %s: %w", corp, err))
		}
	}
	w.outstanding(ctx)
	return rd, errors.Join(errs...)
}

func (w Worker) corp(ctx context.Context, corp string, cl WeCom, rd *Round) error {
	// Custody's pending handovers WeCom has not been asked for yet.
	_, err := w.Pool.Exec(ctx, `
		INSERT INTO wecom.transfers (corp_id, handover_id, customer_id, from_staff_id, to_staff_id, resigned, deadline, state)
		SELECT h.corp_id, h.handover_id, h.customer_id, h.from_staff_id, h.to_staff_id, h.kind = $2, h.deadline, $3
		  FROM `+projections.LiveSchema+`.handovers h
		 WHERE h.corp_id = $1 AND h.status = 'pending'
		ON CONFLICT (corp_id, handover_id) DO NOTHING`, corp, events.HandoverResigned, StateNew)
	if err != nil {
		return fmt.Errorf("note new handovers: %w", err)
	}
	// Poll first: a 'calling' row whose call did happen is found there and
	// not asked for again.
	if err := w.poll(ctx, corp, cl, rd); err != nil {
		return err
	}
	return w.ask(ctx, corp, cl, rd)
}

type row struct {
	handoverID, customerID, from, to string
	resigned                         bool
	deadline                         time.Time
	state, message                   string
	// status is custody's status of the handover (projections).
	status string
}

func (w Worker) rows(ctx context.Context, corp string, states ...string) ([]row, error) {
	rs, err := w.Pool.Query(ctx, `
		SELECT t.handover_id, t.customer_id, t.from_staff_id, t.to_staff_id, t.resigned, t.deadline, t.state, coalesce(h.message, ''), coalesce(h.status, '')
		  FROM wecom.transfers t LEFT JOIN `+projections.LiveSchema+`.handovers h USING (corp_id, handover_id)
		 WHERE t.corp_id = $1 AND t.state = ANY($2)
		 ORDER BY t.from_staff_id, t.to_staff_id, t.resigned, t.handover_id`, corp, states)
	if err != nil {
		return nil, fmt.Errorf("read transfers: %w", err)
	}
	return pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.handoverID, &x.customerID, &x.from, &x.to, &x.resigned, &x.deadline, &x.state, &x.message, &x.status)
	})
}

func (w Worker) set(ctx context.Context, corp, handoverID, state string, extra string, args ...any) error {
	q := `UPDATE wecom.transfers SET state = $3, updated_at = now()` + extra + ` WHERE corp_id = $1 AND handover_id = $2`
	if _, err := w.Pool.Exec(ctx, q, append([]any{corp, handoverID, state}, args...)...); err != nil {
		return fmt.Errorf("update transfer: %w", err)
	}
	return nil
}

// ask calls transfer_customer for the new rows, 100 customers of one
// (from, to, kind, message) per call.
func (w Worker) ask(ctx context.Context, corp string, cl WeCom, rd *Round) error {
	all, err := w.rows(ctx, corp, StateNew)
	if err != nil {
		return err
	}
	var rows []row
	for _, r := range all {
		if r.status == customer.StatusPending {
			rows = append(rows, r)
			continue
		}
		// Settled in custody before WeCom was asked (cancelled, the
		// relation ended): nothing to carry out.
		if err := w.set(ctx, corp, r.handoverID, StateDone, `, outcome = $4`, "settled_in_custody:"+r.status); err != nil {
			return err
		}
	}
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && n < 100 && rows[n].from == rows[0].from && rows[n].to == rows[0].to &&
			rows[n].resigned == rows[0].resigned && rows[n].message == rows[0].message {
			n++
		}
		batch := rows[:n]
		rows = rows[n:]
		t := api.Transfer{HandoverUserID: batch[0].from, TakeoverUserID: batch[0].to, Resigned: batch[0].resigned}
		if !t.Resigned {
			t.Message = batch[0].message
		}
		for _, r := range batch {
			// Written before the call: after a crash or an ambiguous
			// failure the next round polls before asking again.
			if err := w.set(ctx, corp, r.handoverID, StateCalling, ``); err != nil {
				return err
			}
			t.ExternalUserIDs = append(t.ExternalUserIDs, r.customerID)
		}
		rd.Asked += len(batch)
		outs, err := cl.TransferCustomers(ctx, t)
		var apiErr *api.Error
		switch {
		case err == nil:
		case errors.As(err, &apiErr) && apiErr.Code != 0 && !errors.Is(err, api.ErrTransient) && !errors.Is(err, api.ErrRateLimited),
			errors.Is(err, api.ErrInvalid):
			// WeCom refused the whole call: nothing started.
			for _, r := range batch {
				if err := w.reject(ctx, corp, r, apiErr, rd); err != nil {
					return err
				}
			}
			continue
		default:
			// Ambiguous (timeout, busy, 5xx) or WeCom never got it: the
			// rows stay 'calling'; the next round polls first.
			w.Logger.Warn("wecom handovers: transfer_customer failed; transfer_result decides at the next round", "corp", corp, "err", err)
			continue
		}
		code := map[string]int{}
		for _, o := range outs {
			code[o.ExternalUserID] = o.Code
		}
		for _, r := range batch {
			c, ok := code[r.customerID]
			switch {
			case !ok:
				// Not in the answer: transfer_result decides.
			case c == 0:
				rd.Started++
				if err := w.set(ctx, corp, r.handoverID, StateWaiting, `, wecom_code = 0`); err != nil {
					return err
				}
			default:
				if err := w.reject(ctx, corp, r, &api.Error{Code: c}, rd); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reject records that WeCom will not carry the handover out.
func (w Worker) reject(ctx context.Context, corp string, r row, apiErr *api.Error, rd *Round) error {
	code := 0
	if apiErr != nil {
		code = apiErr.Code
	}
	_, err := w.Commands.FailHandover(ctx, commands.FailHandover{Meta: w.meta(corp, r, "rejected", time.Time{}),
		CustomerID: r.customerID, HandoverID: r.handoverID, Reason: events.FailRejectedByWeCom})
	if err != nil && !errors.Is(err, customer.ErrHandoverNotPending) && !errors.Is(err, customer.ErrHandoverNotFound) {
		return err
	}
	rd.Rejected++
	return w.set(ctx, corp, r.handoverID, StateDone, `, wecom_code = $4, outcome = $5`, code, "rejected_by_wecom")
}

func (w Worker) meta(corp string, r row, step string, at time.Time) commands.Meta {
	return commands.Meta{CorpID: corp, Actor: "wecom", OccurredAt: at,
		CommandID: "wecom-transfer-" + r.handoverID + "-" + step, CorrelationID: "wecom-transfer-" + r.handoverID}
}

// poll asks transfer_result for every open row, per (from, to, kind).
func (w Worker) poll(ctx context.Context, corp string, cl WeCom, rd *Round) error {
	rows, err := w.rows(ctx, corp, StateCalling, StateWaiting)
	if err != nil {
		return err
	}
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && rows[n].from == rows[0].from && rows[n].to == rows[0].to && rows[n].resigned == rows[0].resigned {
			n++
		}
		group := rows[:n]
		rows = rows[n:]
		status := map[string]api.TransferStatus{}
		err := cl.TransferResults(ctx, api.TransferQuery{HandoverUserID: group[0].from, TakeoverUserID: group[0].to, Resigned: group[0].resigned},
			func(page []api.TransferStatus) error {
				for _, s := range page {
					status[s.ExternalUserID] = s
				}
				return nil
			})
		w.Metrics.polled(err)
		if err != nil {
			w.Logger.Warn("wecom handovers: transfer_result failed; polling again at the next round", "corp", corp, "err", err)
			continue
		}
		for _, r := range group {
			rd.Polled++
			s, ok := status[r.customerID]
			if !ok {
				s.Status = api.TransferNoRecord
			}
			if err := w.record(ctx, corp, r, s, rd); err != nil {
				return err
			}
		}
	}
	return nil
}

// record records WeCom's status s of row r.
func (w Worker) record(ctx context.Context, corp string, r row, s api.TransferStatus, rd *Round) error {
	var takeover *time.Time
	if !s.TakeoverTime.IsZero() {
		takeover = &s.TakeoverTime
	}
	done := func(outcome string) error {
		return w.set(ctx, corp, r.handoverID, StateDone, `, wecom_status = $4, takeover_time = $5, polls = polls + 1, outcome = $6`, s.Status, takeover, outcome)
	}
	settled := func(err error) bool {
		return errors.Is(err, customer.ErrHandoverNotPending) || errors.Is(err, customer.ErrHandoverNotFound)
	}
	switch s.Status {
	case api.TransferWaiting:
		rd.Waiting++
		return w.set(ctx, corp, r.handoverID, StateWaiting, `, wecom_status = $4, takeover_time = $5, polls = polls + 1`, s.Status, takeover)
	case api.TransferCompleted:
		o, err := w.Commands.SettleHandover(ctx, commands.Meta{CorpID: corp, Actor: "wecom", CorrelationID: "wecom-transfer-" + r.handoverID},
			r.customerID, r.handoverID)
		if err != nil {
			return err
		}
		switch {
		case o.Status == commands.OutcomeSkipped && errors.Is(o.Err, customer.ErrHandoverNotDue):
			// WeCom is done before custody's deadline by this clock (WeCom's
			// 24 hours started after custody's): recorded at a later poll.
			rd.Waiting++
			return w.set(ctx, corp, r.handoverID, StateWaiting, `, wecom_status = $4, takeover_time = $5, polls = polls + 1`, s.Status, takeover)
		case o.Status == customer.StatusCompleted:
			rd.Completed++
		case o.Status == customer.StatusFailed:
			rd.Failed++
		}
		return done(o.Status)
	case api.TransferRefused:
		// transfer_result does not date the refusal: it is dated when
		// seen, and no later than custody's refusal window allows.
		at := w.Now().UTC()
		if last := r.deadline.Add(-time.Second); at.After(last) {
			at = last
		}
		_, err := w.Commands.RefuseHandover(ctx, commands.RefuseHandover{Meta: w.meta(corp, r, "refused", at), CustomerID: r.customerID, HandoverID: r.handoverID})
		if err != nil && !settled(err) {
			return err
		}
		rd.Refused++
		return done(customer.StatusRefused)
	case api.TransferLimitExceeded:
		_, err := w.Commands.FailHandover(ctx, commands.FailHandover{Meta: w.meta(corp, r, "limit", time.Time{}),
			CustomerID: r.customerID, HandoverID: r.handoverID, Reason: events.FailTargetAtCapacity})
		if err != nil && !settled(err) {
			return err
		}
		rd.Failed++
		return done(customer.StatusFailed)
	default: // TransferNoRecord, or a status WeCom adds later
		if r.state == StateCalling {
			// The ambiguous call did not start it: ask again.
			return w.set(ctx, corp, r.handoverID, StateNew, `, polls = polls + 1`)
		}
		_, err := w.Commands.FailHandover(ctx, commands.FailHandover{Meta: w.meta(corp, r, "norecord", time.Time{}),
			CustomerID: r.customerID, HandoverID: r.handoverID, Reason: events.FailRejectedByWeCom})
		if err != nil && !settled(err) {
			return err
		}
		rd.Failed++
		return done("rejected_by_wecom")
	}
}

func (w Worker) outstanding(ctx context.Context) {
	if w.Metrics == nil {
		return
	}
	var n int64
	if err := w.Pool.QueryRow(ctx, `SELECT count(*) FROM wecom.transfers WHERE state IN ('calling', 'waiting')`).Scan(&n); err == nil {
		w.Metrics.outstanding.Set(float64(n))
	}
}
