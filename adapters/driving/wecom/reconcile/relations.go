package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

type pair struct{ customer, staff string }

// wecomRelations is WeCom's side of the relations in scope.
type wecomRelations struct {
	follows map[pair]api.Relation
	// unassigned: relations of departed members (no details).
	unassigned map[pair]bool
}

// relations reconciles every relation of the corp.
func (r *run) relations(ctx context.Context) error {
	users, err := r.w.FollowUsers(ctx)
	if err != nil {
		return err
	}
	users = slices.DeleteFunc(slices.Clone(users), func(u string) bool { return !plainID(u) })
	// Every member with customer contact enabled is staff custody should
	// know (a handover target, say), customers or not.
	if err := r.ensureStaff(ctx, slices.Clone(users)); err != nil {
		return err
	}
	ws := wecomRelations{follows: map[pair]api.Relation{}, unassigned: map[pair]bool{}}
	// batch/get_by_user takes 100 members per call: ask per 100 to report
	// progress between them.
	r.rc.o.Progress(Progress{Phase: "relations", Total: len(users)})
	for i := 0; i < len(users); i += 100 {
		chunk := users[i:min(i+100, len(users))]
		err := r.w.BatchByUser(ctx, chunk, func(page []api.Relation) error {
			for _, rel := range page {
				if plainID(rel.Customer.ExternalUserID) && plainID(rel.Follow.UserID) {
					ws.follows[pair{rel.Customer.ExternalUserID, rel.Follow.UserID}] = rel
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		r.rc.o.Progress(Progress{Phase: "relations", Done: i + len(chunk), Total: len(users)})
	}
	err = r.w.Unassigned(ctx, func(page []api.Unassigned) error {
		for _, u := range page {
			if plainID(u.ExternalUserID) && plainID(u.HandoverUserID) {
				ws.unassigned[pair{u.ExternalUserID, u.HandoverUserID}] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.rep.WeComPairs = len(ws.follows) + len(ws.unassigned)
	have, err := r.rc.o.View.Relations(ctx, r.corp, nil)
	if err != nil {
		return err
	}
	return r.compareRelations(ctx, ws, have, nil)
}

// compareRelations records the differences between WeCom's relations ws
// and custody's have. With only, pairs outside it are left alone (a
// refresh of one relation).
func (r *run) compareRelations(ctx context.Context, ws wecomRelations, have []Relation, only func(pair) bool) error {
	in := func(p pair) bool { return only == nil || only(p) }
	pending, err := r.rc.o.View.PendingHandovers(ctx, r.corp)
	if err != nil {
		return err
	}
	held := map[pair]bool{}
	for _, h := range pending {
		held[pair{h.CustomerID, h.From}] = true
		held[pair{h.CustomerID, h.To}] = true
	}
	custody := make(map[pair]Relation, len(have))
	for _, c := range have {
		custody[pair{c.CustomerID, c.StaffID}] = c
	}
	byCustomer := map[string][]func(context.Context) error{}
	add := func(p pair, f func(context.Context) error) {
		byCustomer[p.customer] = append(byCustomer[p.customer], f)
	}
	defer0 := func() { r.rep.Deferred++ }

	// Ends: active in custody, listed nowhere in WeCom.
	for _, p := range sortedPairs(custody) {
		c := custody[p]
		if !c.Active || !in(p) || ws.unassigned[p] {
			continue
		}
		if _, ok := ws.follows[p]; ok {
			continue
		}
		if held[p] {
			defer0()
			continue
		}
		add(p, func(ctx context.Context) error {
			res, err := r.rc.o.Commands.EndRelation(ctx, commands.EndRelation{
				Meta: r.meta("end-"+p.customer+"-"+p.staff, timeZero), CustomerID: p.customer, StaffID: p.staff, Reason: events.EndReconciled,
			})
			return r.recorded("relation_ended", res, err)
		})
	}
	// Starts and edits.
	var needStaff []string
	for _, p := range sortedPairs(ws.follows) {
		if !in(p) {
			continue
		}
		w := ws.follows[p]
		c, known := custody[p]
		if known && c.Active {
			if e, differs := edit(w, c); differs {
				add(p, func(ctx context.Context) error {
					e.Meta = r.meta("edit-"+p.customer+"-"+p.staff, timeZero)
					res, err := r.rc.o.Commands.EditRelation(ctx, e)
					return r.recorded("relation_edited", res, err)
				})
			}
			continue
		}
		if held[p] {
			defer0()
			continue
		}
		needStaff = append(needStaff, p.staff)
		at := r.when(w.Follow.CreateTime, c.EndedAt)
		add(p, func(ctx context.Context) error {
			res, err := r.rc.o.Commands.StartRelation(ctx, start(w, r.meta("start-"+p.customer+"-"+p.staff, at)))
			return r.recorded("relation_started", res, err)
		})
	}
	for _, p := range sortedPairs(ws.unassigned) {
		if c, known := custody[p]; !in(p) || (known && c.Active) {
			continue
		}
		if held[p] {
			defer0()
			continue
		}
		needStaff = append(needStaff, p.staff)
		add(p, func(ctx context.Context) error {
			res, err := r.rc.o.Commands.StartRelation(ctx, commands.StartRelation{
				Meta: r.meta("start-"+p.customer+"-"+p.staff, timeZero), CustomerID: p.customer, StaffID: p.staff, Initiator: events.InitiatorStaff,
			})
			return r.recorded("relation_started", res, err)
		})
	}
	if err := r.ensureStaff(ctx, needStaff); err != nil {
		return err
	}
	acts := make([]action, 0, len(byCustomer))
	for cust, fs := range byCustomer {
		acts = append(acts, action{key: cust, do: func(ctx context.Context) error {
			for _, f := range fs {
				if err := f(ctx); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	sort.Slice(acts, func(i, j int) bool { return acts[i].key < acts[j].key })
	return r.apply(ctx, "relations", acts)
}

// start is the StartRelation of a relation custody lacks, with WeCom's
// details. WeCom does not say who initiated an add; as in the callback
// translator, a channel code (state) means the customer did.
func start(w api.Relation, m commands.Meta) commands.StartRelation {
	initiator := events.InitiatorStaff
	if w.Follow.State != "" {
		initiator = events.InitiatorCustomer
	}
	addWay := w.Follow.AddWay
	if addWay < 0 || addWay > commands.MaxAddWay {
		addWay = 0
	}
	f := details(w)
	return commands.StartRelation{
		Meta: m, CustomerID: w.Customer.ExternalUserID, StaffID: w.Follow.UserID, Initiator: initiator,
		AddWay: addWay, State: Normalize(w.Follow.State, commands.MaxCodeLen), Tags: f.Tags,
		CustomerName: f.CustomerName, Remark: f.Remark, Description: f.Description, Phones: f.Phones,
	}
}

// details are WeCom's relation details, normalised for custody.
func details(w api.Relation) commands.EditRelation {
	return commands.EditRelation{
		CustomerID: w.Customer.ExternalUserID, StaffID: w.Follow.UserID,
		Tags:         normalizeList(w.Follow.TagIDs, commands.MaxTagLen, commands.MaxTags),
		CustomerName: Normalize(w.Customer.Name, commands.MaxNameLen),
		Remark:       Normalize(w.Follow.Remark, commands.MaxRemarkLen),
		Description:  Normalize(w.Follow.Description, commands.MaxDescriptionLen),
		Phones:       normalizeList(w.Follow.RemarkMobiles, commands.MaxPhoneLen, commands.MaxPhones),
	}
}

// edit returns the EditRelation that makes custody's c equal to WeCom's w,
// and whether one is needed. The customer's name is not compared (it is
// the customer's WeChat name, not a detail of the relation) but is carried
// by the edit.
func edit(w api.Relation, c Relation) (commands.EditRelation, bool) {
	e := details(w)
	same := e.Remark == c.Remark && e.Description == c.Description &&
		slices.Equal(e.Phones, sortedCopy(c.Phones)) && slices.Equal(e.Tags, sortedCopy(c.Tags))
	return e, !same
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ensureStaff joins the members custody does not know yet: WeCom listing
// them with customers or groups is proof enough.
func (r *run) ensureStaff(ctx context.Context, ids []string) error {
	if r.staff == nil {
		known, err := r.rc.o.View.Staff(ctx, r.corp)
		if err != nil {
			return err
		}
		r.staff = known
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if r.staff[id] || !plainID(id) {
			continue
		}
		res, err := r.rc.o.Commands.JoinStaff(ctx, commands.JoinStaff{Meta: r.meta("join-"+id, timeZero), StaffID: id})
		switch {
		case errors.Is(err, staff.ErrAlreadyJoined):
		case err != nil:
			if err := r.refusal(err); err != nil {
				return fmt.Errorf("join %s: %w", id, err)
			}
		case len(res.Events) > 0 && !res.Replayed:
			r.rep.corrected("staff_joined")
		}
		r.staff[id] = true
	}
	return nil
}

func sortedPairs[V any](m map[pair]V) []pair {
	out := make([]pair, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].customer != out[j].customer {
			return out[i].customer < out[j].customer
		}
		return out[i].staff < out[j].staff
	})
	return out
}
