package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// eventLog is what the generator writes to: memlog and pgstore.
type eventLog interface {
	eventlog.EventLog
	eventlog.Eraser
}

// genOptions size a generated history.
type genOptions struct {
	Corp      string
	Events    int // at least this many events in total
	Writers   int // concurrent goroutines, each owning its customers and groups
	Staff     int // staff members at the start
	Customers int // customers per writer
	Seed      uint64
}

// generate appends a randomized but valid-looking history: relations
// added and deleted both ways, in-service and resigned handovers with every
// outcome, departures, capacity and slot bookkeeping, edits, opt-outs,
// consents, erasures, group chats and outreach (outreach_gen_test.go),
// from many goroutines at once. Every writer owns its customers' and
// groups' streams (and appends with exact expected versions, as commands
// do); staff streams are shared.
func generate(ctx context.Context, log eventLog, o genOptions) (int64, error) {
	g := &generator{log: log, o: o, departed: map[string]bool{}}
	for i := range o.Staff {
		g.staff = append(g.staff, fmt.Sprintf("s%d", i))
	}
	for _, s := range g.staff {
		if err := g.append(ctx, events.StaffStream(o.Corp, s), -1, &events.StaffJoined{StaffID: s, Capacity: 20000, PII: events.StaffPII{Name: "Staff " + s}}); err != nil {
			return 0, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	per := o.Events / o.Writers
	errs := make([]error, o.Writers)
	var wg sync.WaitGroup
	for w := range o.Writers {
		wg.Go(func() {
			if errs[w] = g.writer(ctx, w, per); errs[w] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return g.count.Load(), errors.Join(errs...)
}

type generator struct {
	log   eventLog
	o     genOptions
	count atomic.Int64
	clock atomic.Int64

	mu       sync.Mutex
	staff    []string
	departed map[string]bool
}

func (g *generator) now() time.Time {
	return base.Add(time.Duration(g.clock.Add(1)) * time.Second)
}

// append writes one event; expected < 0 means any version.
func (g *generator) append(ctx context.Context, stream string, expected int64, ps ...events.Payload) error {
	evs := make([]events.Event, len(ps))
	for i, p := range ps {
		e, err := events.New(uuid.New(), events.Meta{CorpID: g.o.Corp, OccurredAt: g.now(), Actor: "system"}, p)
		if err != nil {
			return err
		}
		evs[i] = e
	}
	ev := eventlog.ExpectAny
	if expected >= 0 {
		ev = eventlog.ExpectVersion(expected)
	}
	if _, err := g.log.Append(ctx, stream, ev, evs...); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	g.count.Add(int64(len(ps)))
	return nil
}

// activeStaff picks a staff member who has not departed.
func (g *generator) activeStaff(r *rand.Rand) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range 10 {
		s := g.staff[r.IntN(len(g.staff))]
		if !g.departed[s] {
			return s, true
		}
	}
	return "", false
}

func (g *generator) isDeparted(s string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.departed[s]
}

type genCustomer struct {
	id        string
	version   int64           // last stream version, -1 before the first event
	relations map[string]bool // staff -> active (false: unassigned is decided by departure)
	erased    bool
}

type genGroup struct {
	id      string
	version int64
	owner   string
	members map[string]string // member id -> type
	gone    bool
}

func (g *generator) writer(ctx context.Context, w, quota int) error {
	r := rand.New(rand.NewPCG(g.o.Seed, uint64(w)))
	or := outreachRand(g.o.Seed, w)
	custs := make([]*genCustomer, g.o.Customers)
	for i := range custs {
		custs[i] = &genCustomer{id: fmt.Sprintf("cu%d-%d", w, i), version: -1, relations: map[string]bool{}}
	}
	var groups []*genGroup
	seq := 0
	written := 0
	emit := func(stream string, version *int64, ps ...events.Payload) error {
		if err := g.append(ctx, stream, *version, ps...); err != nil {
			return err
		}
		*version += int64(len(ps))
		written += len(ps)
		return nil
	}
	for written < quota {
		seq++
		if err := g.outreach(ctx, or, w, seq, custs, groups); err != nil {
			return err
		}
		c := custs[r.IntN(len(custs))]
		cs := events.CustomerStream(g.o.Corp, c.id)
		switch k := r.IntN(100); {
		case k < 30: // add
			s, ok := g.activeStaff(r)
			if !ok || c.relations[s] {
				continue
			}
			init := events.InitiatorStaff
			if r.IntN(2) == 0 {
				init = events.InitiatorCustomer
			}
			if err := emit(cs, &c.version, &events.CustomerRelationStarted{CustomerID: c.id, StaffID: s, Initiator: init, AddWay: r.IntN(5),
				State: fmt.Sprintf("ch%d", r.IntN(8)), Tags: []string{"t" + fmt.Sprint(r.IntN(4))}, StartedBy: events.StartedByAdd,
				PII: events.RelationPII{CustomerName: "Name " + c.id, Remark: fmt.Sprintf("remark %d", seq), Phones: []string{"1380000" + fmt.Sprint(seq)}}}); err != nil {
				return err
			}
			c.relations[s] = true
			if r.IntN(4) == 0 {
				v := int64(-1)
				if err := emit(events.StaffStream(g.o.Corp, s), &v, &events.StaffSlotReserved{StaffID: s, CustomerID: c.id, Reason: events.SlotForAdd}); err != nil {
					return err
				}
			}
		case k < 45: // end, both ways
			s, ok := anyKey(r, c.relations)
			if !ok {
				continue
			}
			reason := events.EndDeletedByCustomer
			if r.IntN(3) == 0 {
				reason = events.EndDeletedByStaff
			}
			if err := emit(cs, &c.version, &events.CustomerRelationEnded{CustomerID: c.id, StaffID: s, Reason: reason}); err != nil {
				return err
			}
			delete(c.relations, s)
		case k < 60: // handover
			from, ok := anyKey(r, c.relations)
			if !ok {
				continue
			}
			to, ok := g.activeStaff(r)
			if !ok || to == from || c.relations[to] {
				continue
			}
			kind := events.HandoverInService
			if g.isDeparted(from) {
				kind = events.HandoverResigned
			}
			hid := fmt.Sprintf("h%d-%d", w, seq)
			ps := []events.Payload{&events.HandoverRequested{HandoverID: hid, CustomerID: c.id, Kind: kind, FromStaffID: from, ToStaffID: to,
				Deadline: base.Add(time.Duration(g.clock.Load()+86400) * time.Second), PII: events.HandoverRequestPII{Message: "please"}}}
			switch o := r.IntN(20); {
			case o < 10:
				ps = append(ps, &events.HandoverCompleted{HandoverID: hid, CustomerID: c.id, FromStaffID: from, ToStaffID: to},
					&events.CustomerRelationEnded{CustomerID: c.id, StaffID: from, Reason: events.EndHandedOver, HandoverID: hid},
					&events.CustomerRelationStarted{CustomerID: c.id, StaffID: to, Initiator: events.InitiatorStaff, StartedBy: events.StartedByHandover,
						HandoverID: hid, Tags: []string{"moved"}, PII: events.RelationPII{CustomerName: "Name " + c.id, Remark: "inherited"}})
				delete(c.relations, from)
				c.relations[to] = true
			case o < 14:
				ps = append(ps, &events.HandoverRefused{HandoverID: hid, CustomerID: c.id})
			case o < 17:
				ps = append(ps, &events.HandoverFailed{HandoverID: hid, CustomerID: c.id, Reason: events.FailTargetAtCapacity})
			case o < 19:
				ps = append(ps, &events.HandoverCancelled{HandoverID: hid, CustomerID: c.id})
			}
			// Request and outcome are separate appends, as the 24-hour window
			// separates them in life.
			if err := emit(cs, &c.version, ps[0]); err != nil {
				return err
			}
			if len(ps) > 1 {
				if err := emit(cs, &c.version, ps[1:]...); err != nil {
					return err
				}
			}
		case k < 65: // edit
			s, ok := anyKey(r, c.relations)
			if !ok {
				continue
			}
			if err := emit(cs, &c.version, &events.CustomerRelationEdited{CustomerID: c.id, StaffID: s, Tags: []string{"edited", fmt.Sprint(seq)},
				PII: events.RelationPII{Remark: fmt.Sprintf("edit %d", seq), Description: "d"}}); err != nil {
				return err
			}
		case k < 71: // moments
			s, ok := anyKey(r, c.relations)
			if !ok {
				continue
			}
			var p events.Payload = &events.MomentsOptedOut{CustomerID: c.id, StaffID: s, Source: "gen"}
			if r.IntN(3) == 0 {
				p = &events.MomentsOptedIn{CustomerID: c.id, StaffID: s, Source: "gen"}
			}
			if err := emit(cs, &c.version, p); err != nil {
				return err
			}
		case k < 75: // consent
			states := []string{events.ConsentAgree, events.ConsentDisagree, events.ConsentDefaultAgree}
			purposes := []string{events.PurposeChatArchive, events.PurposeMarketing}
			if err := emit(cs, &c.version, &events.ConsentRecorded{CustomerID: c.id, Purpose: purposes[r.IntN(2)], State: states[r.IntN(3)],
				ChangedAt: base.Add(time.Duration(g.clock.Load()-int64(r.IntN(100))) * time.Second)}); err != nil {
				return err
			}
		case k < 76: // erasure: key first, then the fact
			if c.erased || r.IntN(4) != 0 {
				continue
			}
			if err := g.log.Erase(ctx, events.CustomerSubject(g.o.Corp, c.id)); err != nil {
				return err
			}
			if err := emit(cs, &c.version, &events.CustomerErased{CustomerID: c.id}); err != nil {
				return err
			}
			c.erased = true
		case k < 78 && w%2 == 1: // the corp's tag catalog and unmatched WeCom facts
			v := int64(-1)
			tag := fmt.Sprintf("t%d", r.IntN(12))
			var p events.Payload
			switch o := r.IntN(10); {
			case o < 3:
				p = &events.TagCreated{TagID: tag, Kind: events.TagKindTag, GroupID: fmt.Sprintf("tg%d", r.IntN(3)), Name: "tag " + fmt.Sprint(seq)}
			case o < 4:
				p = &events.TagCreated{TagID: fmt.Sprintf("tg%d", r.IntN(3)), Kind: events.TagKindGroup, Name: "group " + fmt.Sprint(seq)}
			case o < 6:
				p = &events.TagRenamed{TagID: tag, Kind: events.TagKindTag, Name: "renamed " + fmt.Sprint(seq)}
			case o < 7:
				p = &events.TagDeleted{TagID: fmt.Sprintf("tg%d", r.IntN(3)), Kind: events.TagKindGroup}
			case o < 8:
				p = &events.TagsReordered{Kind: events.TagKindGroup}
			default:
				p = &events.WeComFactUnmatched{Kind: "change_external_contact/del_follow_user", Reason: events.UnmatchedRelationNotActive,
					CustomerID: c.id, StaffID: fmt.Sprintf("s%d", r.IntN(5)), CallbackKey: fmt.Sprintf("cb%d-%d", w, seq)}
			}
			if err := emit(streamOf(g.o.Corp, p), &v, p); err != nil {
				return err
			}
		case k < 78: // staff turnover (even writers), on shared staff streams
			switch n := r.IntN(6); {
			case n == 0: // erasure, whatever the member's status: key first, then the fact
				g.mu.Lock()
				s := g.staff[r.IntN(len(g.staff))]
				g.mu.Unlock()
				if err := g.log.Erase(ctx, events.StaffSubject(g.o.Corp, s)); err != nil {
					return err
				}
				v := int64(-1)
				if err := emit(events.StaffStream(g.o.Corp, s), &v, &events.StaffErased{StaffID: s}); err != nil {
					return err
				}
			case n < 3:
				s, ok := g.activeStaff(r)
				if !ok {
					continue
				}
				g.mu.Lock()
				g.departed[s] = true
				g.mu.Unlock()
				v := int64(-1)
				if err := emit(events.StaffStream(g.o.Corp, s), &v, &events.StaffDeparted{StaffID: s}); err != nil {
					return err
				}
			default:
				g.mu.Lock()
				s := fmt.Sprintf("s%d", len(g.staff))
				g.staff = append(g.staff, s)
				g.mu.Unlock()
				v := int64(-1)
				if err := emit(events.StaffStream(g.o.Corp, s), &v, &events.StaffJoined{StaffID: s, Capacity: 100 + r.IntN(100), PII: events.StaffPII{Name: "New " + s}},
					&events.StaffCapacityChanged{StaffID: s, Capacity: 20000}); err != nil {
					return err
				}
			}
		default: // groups
			if len(groups) == 0 || r.IntN(20) == 0 {
				owner, ok := g.activeStaff(r)
				if !ok {
					continue
				}
				gr := &genGroup{id: fmt.Sprintf("g%d-%d", w, len(groups)), version: -1, owner: owner, members: map[string]string{}}
				groups = append(groups, gr)
				if err := emit(events.GroupChatStream(g.o.Corp, gr.id), &gr.version, &events.GroupChatCreated{ChatID: gr.id, OwnerID: owner, Name: "group " + gr.id},
					&events.GroupChatMemberJoined{ChatID: gr.id, MemberID: owner, MemberType: events.MemberStaff, JoinScene: events.JoinInvited,
						PII: events.GroupMemberPII{Nickname: "owner " + owner}}); err != nil {
					return err
				}
				gr.members[owner] = events.MemberStaff
				continue
			}
			gr := groups[r.IntN(len(groups))]
			if gr.gone {
				continue
			}
			gs := events.GroupChatStream(g.o.Corp, gr.id)
			var p events.Payload
			switch o := r.IntN(20); {
			case o < 10:
				m := custs[r.IntN(len(custs))].id
				if _, in := gr.members[m]; in {
					continue
				}
				scenes := []string{events.JoinInvited, events.JoinLink, events.JoinQRCode}
				p = &events.GroupChatMemberJoined{ChatID: gr.id, MemberID: m, MemberType: events.MemberCustomer, JoinScene: scenes[r.IntN(3)],
					InviterID: gr.owner, PII: events.GroupMemberPII{Nickname: "nick " + m}}
				gr.members[m] = events.MemberCustomer
			case o < 15:
				m, ok := anyKey(r, gr.members)
				if !ok || m == gr.owner {
					continue
				}
				p = &events.GroupChatMemberLeft{ChatID: gr.id, MemberID: m, MemberType: gr.members[m], QuitScene: []string{events.QuitLeft, events.QuitRemoved}[r.IntN(2)]}
				delete(gr.members, m)
			case o < 17:
				to, ok := g.activeStaff(r)
				if !ok || to == gr.owner {
					continue
				}
				p = &events.GroupChatOwnerChanged{ChatID: gr.id, FromStaffID: gr.owner, ToStaffID: to, Reason: events.OwnerChangeInService}
				gr.owner = to
			case o < 18:
				p = &events.GroupChatRenamed{ChatID: gr.id, Name: fmt.Sprintf("renamed %d", seq)}
			case o < 19:
				p = &events.GroupChatNoticeChanged{ChatID: gr.id, Notice: fmt.Sprintf("notice %d", seq)}
			default:
				p = &events.GroupChatDismissed{ChatID: gr.id}
				gr.gone = true
			}
			if err := emit(gs, &gr.version, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// anyKey picks a random key of m.
func anyKey[V any](r *rand.Rand, m map[string]V) (string, bool) {
	if len(m) == 0 {
		return "", false
	}
	i := r.IntN(len(m))
	for k := range m {
		if i == 0 {
			return k, true
		}
		i--
	}
	return "", false
}
