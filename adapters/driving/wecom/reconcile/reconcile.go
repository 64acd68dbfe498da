// Package reconcile makes custody's view of a corp equal to WeCom's: it
// reads the corp's relations, customer groups and tags from WeCom's API
// (get_follow_user_list, batch/get_by_user, get_unassigned_list,
// groupchat/list + groupchat/get, get_corp_tag_list), compares them with
// custody's read model (View) and records every difference as a
// compensating fact through custody's own commands, with actor "wecom":
//
//   - a relation WeCom has and custody does not: customer.relation_started
//     with WeCom's add_way, state, remark, tags and — as the business time —
//     WeCom's createtime when it lies after custody's last record of the
//     pair;
//   - a relation custody has as active and WeCom does not:
//     customer.relation_ended with reason reconciled;
//   - a relation whose remark, description, phones (remark_mobiles) or tags
//     differ: customer.relation_edited with WeCom's values;
//   - groups, owners, names, notices and members: groupchat.* events;
//     groups gone from WeCom's list are dismissed;
//   - tags and tag groups: tag.created / renamed / deleted.
//
// Nothing is overwritten silently, and a corp that already agrees records
// nothing: a second reconcile right after the first records nothing.
// Onboarding a corp that already has years of history in WeCom is a
// reconcile from an empty custody. Relations with a handover custody has
// pending are left to the transfer poller (package outbound), which
// settles them from WeCom's transfer_result.
//
// WeCom text is normalised before it reaches a command (Normalize):
// custody refuses control characters, WeCom does not.
//
// Refresher drains the wecom.refresh marks the callback translator leaves
// (package ingest) with the same comparison, one customer, group or tag
// at a time: the "details after hints" of a callback.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/commands"
)

// WeCom is the part of WeCom's API a reconcile reads (*api.Client).
type WeCom interface {
	FollowUsers(ctx context.Context) ([]string, error)
	BatchByUser(ctx context.Context, userIDs []string, each func([]api.Relation) error) error
	Contact(ctx context.Context, externalUserID string) (api.Customer, []api.Follow, error)
	Unassigned(ctx context.Context, each func([]api.Unassigned) error) error
	GroupChats(ctx context.Context, f api.GroupFilter, each func([]api.GroupRef) error) error
	GroupChat(ctx context.Context, chatID string, needName bool) (api.GroupChat, error)
	CorpTags(ctx context.Context, tagIDs, groupIDs []string) ([]api.TagGroup, error)
}

var _ WeCom = (*api.Client)(nil)

// Options configure a Reconciler.
type Options struct {
	// Commands records the corrections. Required.
	Commands *commands.Handler
	// View is custody's side of the comparison. Required.
	View View
	// Clients gives a custody corp's API client (api.Clients.Client).
	// Required.
	Clients func(ctx context.Context, corpID string) (WeCom, error)
	// Workers record corrections concurrently (partitioned by customer and
	// group, so one aggregate's commands stay in order); default 4.
	Workers int
	// Now is the clock of the report and of corrections without a WeCom
	// time; default time.Now.
	Now func() time.Time
	// Progress, when set, is told how far a reconcile is (for a terminal
	// progress bar). Called from one goroutine at a time.
	Progress func(p Progress)
	// Metrics, when set, records durations and corrections.
	Metrics *Metrics
	// Logger defaults to slog.Default(). Nothing personal is logged.
	Logger *slog.Logger
}

// Progress is how far one reconcile is.
type Progress struct {
	Phase string // "relations", "groups", "tags", "record"
	Done  int
	Total int
}

// Reconciler reconciles corps. It is safe for concurrent use on different
// corps; two reconciles of one corp at once record nothing wrong (every
// command re-checks custody's state) but may record an edit twice.
type Reconciler struct {
	o Options
}

// New returns a Reconciler.
func New(o Options) (*Reconciler, error) {
	var errs []error
	if o.Commands == nil {
		errs = append(errs, errors.New("reconcile: Options.Commands is required"))
	}
	if o.View == nil {
		errs = append(errs, errors.New("reconcile: Options.View is required"))
	}
	if o.Clients == nil {
		errs = append(errs, errors.New("reconcile: Options.Clients is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	return &Reconciler{o: o}, nil
}

// Report says what one reconcile found and corrected. Counts only: ids of
// customers are personal data and stay out of reports and logs.
type Report struct {
	CorpID     string
	RunID      string
	StartedAt  time.Time
	Duration   time.Duration
	WeComPairs int // relations WeCom lists (departed members' included)
	WeComChats int
	WeComTags  int // tags and tag groups
	// Corrections recorded, by kind: staff_joined, relation_started,
	// relation_ended, relation_edited, group_created, group_dismissed,
	// group_owner, group_name, group_notice, member_joined, member_left,
	// tag_created, tag_renamed, tag_deleted.
	Corrections map[string]int
	// Deferred are differences left to another process: relations with a
	// handover pending in custody (the transfer poller settles them).
	Deferred int
	// Refused are differences a custody rule would not record (an erased
	// customer, a dismissed group WeCom still lists, a value custody
	// cannot store), by reason.
	Refused map[string]int
}

// Total is the number of corrections recorded.
func (r Report) Total() int {
	n := 0
	for _, c := range r.Corrections {
		n += c
	}
	return n
}

func (r *Report) corrected(kind string) { r.Corrections[kind]++ }
func (r *Report) refused(why string)    { r.Refused[why]++ }

// Corp reconciles one corp: relations, then groups, then tags. An API or
// log failure stops it with the error (what was recorded stays recorded:
// running it again continues from custody's new state).
func (rc *Reconciler) Corp(ctx context.Context, corpID string) (Report, error) {
	start := rc.o.Now()
	rep := Report{CorpID: corpID, RunID: uuid.NewString(), StartedAt: start,
		Corrections: map[string]int{}, Refused: map[string]int{}}
	w, err := rc.o.Clients(ctx, corpID)
	if err != nil {
		return rep, fmt.Errorf("reconcile %s: %w", corpID, err)
	}
	r := &run{rc: rc, w: w, corp: corpID, rep: &rep}
	// Tags first: relations carry tag ids, and a catalog that knows them
	// makes a reader's join complete.
	for _, step := range []struct {
		name string
		do   func(context.Context) error
	}{{"tags", r.tags}, {"relations", r.relations}, {"groups", r.groups}} {
		if err := step.do(ctx); err != nil {
			rep.Duration = rc.o.Now().Sub(start)
			rc.o.Metrics.observe(rep, false)
			return rep, fmt.Errorf("reconcile %s: %s: %w", corpID, step.name, err)
		}
	}
	rep.Duration = rc.o.Now().Sub(start)
	rc.o.Metrics.observe(rep, true)
	rc.o.Logger.Info("wecom reconcile done", "corp", corpID, "run", rep.RunID, "corrections", rep.Total(),
		"deferred", rep.Deferred, "refused", len(rep.Refused), "duration", rep.Duration)
	return rep, nil
}

// run is one reconcile of one corp.
type run struct {
	rc   *Reconciler
	w    WeCom
	corp string
	// mu guards rep while corrections are recorded concurrently.
	mu  sync.Mutex
	rep *Report
	// staff custody knows (joined, departed or not).
	staff map[string]bool
}

// meta is the Meta of a correction: actor wecom, a command id unique to
// the run and the step.
func (r *run) meta(step string, at time.Time) commands.Meta {
	return commands.Meta{
		CorpID: r.corp, Actor: "wecom", OccurredAt: at,
		CommandID:     "wecom-reconcile-" + r.rep.RunID + "-" + step,
		CorrelationID: "wecom-reconcile-" + r.rep.RunID,
	}
}

// when is at if custody accepts it as a business time (after after, not
// before commands.MinOccurredAt, not in the future), else zero: the
// handler's clock.
func (r *run) when(at, after time.Time) time.Time {
	now := r.rc.o.Now()
	if at.IsZero() || at.Before(commands.MinOccurredAt) || at.After(now) || !at.After(after) {
		return time.Time{}
	}
	return at
}

// timeZero: no business time of WeCom's; the handler's clock.
var timeZero time.Time
