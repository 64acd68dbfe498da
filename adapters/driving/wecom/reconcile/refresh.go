package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
)

// Marks is the wecom.refresh table of details to fetch (*inbox.Inbox).
type Marks interface {
	Refreshes(ctx context.Context, corpID string, limit int) ([]inbox.Refresh, error)
	DoneRefresh(ctx context.Context, r inbox.Refresh) error
}

// Refresh fetches one marked detail from WeCom's API and records what
// differs, as a reconcile of just that subject does:
//
//   - a contact (add_external_contact, edit_external_contact):
//     externalcontact/get, and the relation of the marked member gets
//     WeCom's remark, description, phones (remark_mobiles) and tags —
//     customer.relation_edited when they differ; a relation WeCom has and
//     custody lacks starts. A relation WeCom no longer lists is left to
//     its delete callback or the next reconcile;
//   - a group: groupchat/get, then owner, name, notice and members (a group
//     WeCom no longer has is dismissed);
//   - a tag: the whole catalog (one get_corp_tag_list call).
//
// It returns ErrNoAPI when the corp gives custody no API access; the mark
// then stays for later.
func (rc *Reconciler) Refresh(ctx context.Context, m inbox.Refresh) (Report, error) {
	rep := Report{CorpID: m.CorpID, RunID: "refresh-" + m.Kind + "-" + m.Subject + "-" + m.RequestedAt.UTC().Format("20060102T150405.000000"),
		StartedAt: rc.o.Now(), Corrections: map[string]int{}, Refused: map[string]int{}}
	w, err := rc.o.Clients(ctx, m.CorpID)
	if errors.Is(err, api.ErrNoSecret) || errors.Is(err, connection.ErrNotFound) {
		return rep, fmt.Errorf("%w: %w", ErrNoAPI, err)
	}
	if err != nil {
		return rep, err
	}
	r := &run{rc: rc, w: w, corp: m.CorpID, rep: &rep}
	switch m.Kind {
	case inbox.RefreshContact:
		err = r.refreshContact(ctx, m.Subject, m.StaffID)
	case inbox.RefreshChat:
		err = r.refreshChat(ctx, m.Subject)
	case inbox.RefreshTag:
		err = r.tags(ctx)
	}
	rep.Duration = rc.o.Now().Sub(rep.StartedAt)
	return rep, err
}

// ErrNoAPI: the corp is not connected with an app secret.
var ErrNoAPI = errors.New("reconcile: no WeCom API access for the corp")

func (r *run) refreshContact(ctx context.Context, customerID, staffID string) error {
	if !plainID(customerID) {
		return nil
	}
	cu, follows, err := r.w.Contact(ctx, customerID)
	if errors.Is(err, api.ErrNotFound) {
		return nil // no one follows the customer any more: delete callbacks or the next reconcile say so
	}
	if err != nil {
		return err
	}
	cu.ExternalUserID = customerID
	ws := wecomRelations{follows: map[pair]api.Relation{}}
	for _, f := range follows {
		if plainID(f.UserID) {
			ws.follows[pair{customerID, f.UserID}] = api.Relation{Customer: cu, Follow: f}
		}
	}
	have, err := r.rc.o.View.Relations(ctx, r.corp, []string{customerID})
	if err != nil {
		return err
	}
	return r.compareRelations(ctx, ws, have, func(p pair) bool {
		_, listed := ws.follows[p]
		return listed && (staffID == "" || p.staff == staffID)
	})
}

func (r *run) refreshChat(ctx context.Context, chatID string) error {
	if !plainID(chatID) {
		return nil
	}
	chats := map[string]api.GroupChat{}
	g, err := r.w.GroupChat(ctx, chatID, false)
	switch {
	case errors.Is(err, api.ErrNotFound):
	case err != nil:
		return err
	default:
		chats[chatID] = g
	}
	have, err := r.rc.o.View.Groups(ctx, r.corp, []string{chatID})
	if err != nil {
		return err
	}
	return r.compareGroups(ctx, chats, have, map[string]bool{chatID: true})
}

// RefreshWorker drains the marks of every corp connected with an app
// secret.
type RefreshWorker struct {
	Reconciler *Reconciler
	Marks      Marks
	// Corps lists the corps whose marks to drain.
	Corps func(ctx context.Context) ([]string, error)
	// CatchUp, when set, brings the View up to the log before a drain
	// (the marked relation was usually just recorded).
	CatchUp func(ctx context.Context) error
	// Interval between drains; default 5 s.
	Interval time.Duration
	// Batch is how many marks of a corp one drain takes; default 100.
	Batch  int
	Logger *slog.Logger
}

// Run drains until ctx is done. A failed fetch leaves its mark for the
// next drain.
func (w RefreshWorker) Run(ctx context.Context) error {
	if w.Interval <= 0 {
		w.Interval = 5 * time.Second
	}
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		if _, err := w.Once(ctx); err != nil && ctx.Err() == nil {
			w.logger().Warn("wecom refresh: drain failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (w RefreshWorker) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.Default()
	}
	return w.Logger
}

// Once drains one batch of marks per corp and returns how many it
// fetched. A mark asked for again meanwhile stays (DoneRefresh).
func (w RefreshWorker) Once(ctx context.Context) (int, error) {
	batch := w.Batch
	if batch <= 0 {
		batch = 100
	}
	corps, err := w.Corps(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, corp := range corps {
		marks, err := w.Marks.Refreshes(ctx, corp, batch)
		if err != nil {
			return n, err
		}
		if len(marks) > 0 && w.CatchUp != nil {
			if err := w.CatchUp(ctx); err != nil {
				return n, err
			}
		}
		for _, m := range marks {
			rep, err := w.Reconciler.Refresh(ctx, m)
			if errors.Is(err, ErrNoAPI) {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("corp %s: %s refresh: %w", corp, m.Kind, err))
				continue
			}
			if err := w.Marks.DoneRefresh(ctx, m); err != nil {
				return n, err
			}
			n++
			if rep.Total() > 0 {
				w.logger().Info("wecom refresh: details recorded", "corp", corp, "kind", m.Kind, "corrections", rep.Total())
			}
		}
	}
	return n, errors.Join(errs...)
}
