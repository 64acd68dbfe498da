// Package asoftest generates random but valid histories of a corp — staff
// joining and departing, customers added and deleted both ways, re-added,
// handovers requested and then refused, cancelled, failed or completed,
// moments opt-outs, consents, erasures and group chats — for tests and
// benchmarks of as-of questions, replays, timelines and exports.
//
// The histories obey the domain's rules as the domain aggregates replay
// them (a relation starts only when not active, ends only when active, a
// handover moves an active relation to a member who does not follow the
// customer yet), and business time (occurred_at) never goes backwards, so
// "the log up to T" is well defined.
package asoftest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
)

// Item is one event to append to Stream.
type Item struct {
	Stream string
	Event  events.Event
}

// Config shapes a history.
type Config struct {
	// Corps are the tenants; each gets its own staff, customers and groups.
	// Default {"acme"}.
	Corps []string
	// Staff and Customers per corp; defaults 8 and 40.
	Staff, Customers int
	// Events is roughly how many events to generate in all; default 2,000.
	Events int
	// Seed makes the history reproducible.
	Seed uint64
	// Start is the first event's occurred_at; MaxGap bounds the random step
	// between events (default 90 minutes). Steps of zero happen, so several
	// events share an occurred_at.
	Start  time.Time
	MaxGap time.Duration
	// PII, when set, gives relations and group members personal data.
	PII bool
}

func (c *Config) setDefaults() {
	if len(c.Corps) == 0 {
		c.Corps = []string{"acme"}
	}
	if c.Staff == 0 {
		c.Staff = 8
	}
	if c.Customers == 0 {
		c.Customers = 40
	}
	if c.Events == 0 {
		c.Events = 2000
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.MaxGap == 0 {
		c.MaxGap = 90 * time.Minute
	}
}

type pending struct {
	id, customer, from, to string
	deadline               time.Time
}

type corpState struct {
	corp      string
	active    map[string]bool            // staff id -> joined and not departed
	follows   map[string]map[string]bool // customer -> staff with an active relation
	pending   map[string]*pending        // customer -> its one pending handover
	erased    map[string]bool
	groups    []string
	members   map[string]map[string]bool // chat -> customer members
	dismissed map[string]bool
	n         int
}

// Generate calls emit for every event of the history, in log order, and
// stops at emit's first error. It holds the corps' state, not the events,
// so memory does not grow with Config.Events.
func Generate(cfg Config, emit func(Item) error) error {
	cfg.setDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	now := cfg.Start
	count := 0
	send := func(corp, stream, actor string, p events.Payload) error {
		count++
		e, err := events.New(uuid.New(), events.Meta{CorpID: corp, OccurredAt: now, Actor: actor,
			CommandID: fmt.Sprintf("gen-%d", count)}, p)
		if err != nil {
			return err
		}
		return emit(Item{Stream: stream, Event: e})
	}
	var corps []*corpState
	for _, corp := range cfg.Corps {
		cs := &corpState{corp: corp, active: map[string]bool{}, follows: map[string]map[string]bool{},
			pending: map[string]*pending{}, erased: map[string]bool{}, members: map[string]map[string]bool{},
			dismissed: map[string]bool{}}
		for i := range cfg.Staff {
			id := fmt.Sprintf("s%03d", i)
			cs.active[id] = true
			pii := events.StaffPII{}
			if cfg.PII {
				pii.Name = "Staff " + id
			}
			if err := send(corp, events.StaffStream(corp, id), "admin:root", &events.StaffJoined{StaffID: id, PII: pii}); err != nil {
				return err
			}
		}
		for i := range cfg.Customers {
			cs.follows[fmt.Sprintf("c%05d", i)] = map[string]bool{}
		}
		corps = append(corps, cs)
	}
	staffIDs := func(cs *corpState, active bool) []string {
		var out []string
		for i := range cfg.Staff {
			id := fmt.Sprintf("s%03d", i)
			if cs.active[id] == active {
				out = append(out, id)
			}
		}
		return out
	}
	pick := func(ids []string) string { return ids[rng.IntN(len(ids))] }

	for count < cfg.Events {
		now = now.Add(time.Duration(rng.Int64N(int64(cfg.MaxGap))))
		if rng.IntN(10) == 0 {
			now = now.Truncate(time.Hour) // collisions on exact times
		}
		cs := corps[rng.IntN(len(corps))]
		corp := cs.corp
		c := fmt.Sprintf("c%05d", rng.IntN(cfg.Customers))
		stream := events.CustomerStream(corp, c)
		follows := cs.follows[c]
		var err error
		switch roll := rng.IntN(100); {
		case roll < 30: // add
			active := staffIDs(cs, true)
			s := pick(active)
			if follows[s] || cs.erased[c] {
				continue
			}
			follows[s] = true
			initiator := events.InitiatorStaff
			if rng.IntN(2) == 0 {
				initiator = events.InitiatorCustomer
			}
			pii := events.RelationPII{}
			if cfg.PII {
				pii = events.RelationPII{CustomerName: "Customer " + c, Remark: "VIP", Phones: []string{"+86 138 0000 " + c[1:]}}
			}
			err = send(corp, stream, "wecom", &events.CustomerRelationStarted{CustomerID: c, StaffID: s, Initiator: initiator,
				AddWay: 1 + rng.IntN(3), State: fmt.Sprintf("channel-%d", rng.IntN(4)), StartedBy: events.StartedByAdd, PII: pii})
		case roll < 45: // delete, either way
			s, ok := anyKey(rng, follows)
			if !ok {
				continue
			}
			delete(follows, s)
			reason := events.EndDeletedByCustomer
			if rng.IntN(3) == 0 {
				reason = events.EndDeletedByStaff
			}
			if err = send(corp, stream, "wecom", &events.CustomerRelationEnded{CustomerID: c, StaffID: s, Reason: reason}); err != nil {
				return err
			}
			if p := cs.pending[c]; p != nil && p.from == s {
				delete(cs.pending, c)
				err = send(corp, stream, "system", &events.HandoverFailed{HandoverID: p.id, CustomerID: c, Reason: events.FailRelationEnded})
			}
		case roll < 57: // request a handover
			if cs.pending[c] != nil {
				continue
			}
			from, ok := anyKey(rng, follows)
			if !ok {
				continue
			}
			to := pick(staffIDs(cs, true))
			if follows[to] || to == from {
				continue
			}
			kind := events.HandoverInService
			if !cs.active[from] {
				kind = events.HandoverResigned
			}
			p := &pending{id: fmt.Sprintf("h-%s-%d", corp, count), customer: c, from: from, to: to, deadline: now.Add(24 * time.Hour)}
			cs.pending[c] = p
			err = send(corp, stream, "admin:root", &events.HandoverRequested{HandoverID: p.id, CustomerID: c, Kind: kind,
				FromStaffID: from, ToStaffID: to, Deadline: p.deadline})
		case roll < 70: // settle a handover
			p := cs.pending[c]
			if p == nil {
				continue
			}
			delete(cs.pending, c)
			switch r := rng.IntN(10); {
			case r < 6 && follows[p.from] && !follows[p.to] && cs.active[p.to]:
				follows[p.to] = true
				delete(follows, p.from)
				if err = send(corp, stream, "system", &events.HandoverCompleted{HandoverID: p.id, CustomerID: c, FromStaffID: p.from, ToStaffID: p.to}); err != nil {
					return err
				}
				if err = send(corp, stream, "system", &events.CustomerRelationEnded{CustomerID: c, StaffID: p.from, Reason: events.EndHandedOver, HandoverID: p.id}); err != nil {
					return err
				}
				err = send(corp, stream, "system", &events.CustomerRelationStarted{CustomerID: c, StaffID: p.to, Initiator: events.InitiatorStaff,
					StartedBy: events.StartedByHandover, HandoverID: p.id})
			case r < 8:
				err = send(corp, stream, "wecom", &events.HandoverRefused{HandoverID: p.id, CustomerID: c})
			case r < 9:
				err = send(corp, stream, "admin:root", &events.HandoverCancelled{HandoverID: p.id, CustomerID: c})
			default:
				err = send(corp, stream, "system", &events.HandoverFailed{HandoverID: p.id, CustomerID: c, Reason: events.FailTargetAtCapacity})
			}
		case roll < 73: // a member departs; their relations wait, unassigned
			active := staffIDs(cs, true)
			if len(active) < 3 {
				continue
			}
			s := pick(active)
			cs.active[s] = false
			if err = send(corp, events.StaffStream(corp, s), "admin:root", &events.StaffDeparted{StaffID: s}); err != nil {
				return err
			}
		case roll < 80: // moments
			s, ok := anyKey(rng, follows)
			if !ok {
				continue
			}
			if rng.IntN(2) == 0 {
				err = send(corp, stream, "staff:"+s, &events.MomentsOptedOut{CustomerID: c, StaffID: s, Source: "crm"})
			} else {
				err = send(corp, stream, "staff:"+s, &events.MomentsOptedIn{CustomerID: c, StaffID: s, Source: "crm"})
			}
		case roll < 85: // consent
			states := []string{events.ConsentAgree, events.ConsentDisagree, events.ConsentDefaultAgree}
			err = send(corp, stream, "wecom", &events.ConsentRecorded{CustomerID: c, Purpose: events.PurposeMarketing,
				State: states[rng.IntN(3)], ChangedAt: now})
		case roll < 86: // erasure
			if cs.erased[c] || len(follows) == 0 {
				continue
			}
			cs.erased[c] = true
			err = send(corp, stream, "admin:root", &events.CustomerErased{CustomerID: c})
		default: // group chats
			err = groupStep(rng, cs, c, cfg.PII, send, pick(staffIDs(cs, true)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func groupStep(rng *rand.Rand, cs *corpState, c string, pii bool, send func(corp, stream, actor string, p events.Payload) error, owner string) error {
	corp := cs.corp
	if len(cs.groups) == 0 || rng.IntN(8) == 0 {
		chat := fmt.Sprintf("g%03d", len(cs.groups))
		cs.groups = append(cs.groups, chat)
		cs.members[chat] = map[string]bool{}
		return send(corp, events.GroupChatStream(corp, chat), "wecom", &events.GroupChatCreated{ChatID: chat, OwnerID: owner, Name: "group " + chat})
	}
	chat := cs.groups[rng.IntN(len(cs.groups))]
	if cs.dismissed[chat] {
		return nil
	}
	stream := events.GroupChatStream(corp, chat)
	switch r := rng.IntN(20); {
	case r == 0:
		cs.dismissed[chat] = true
		return send(corp, stream, "wecom", &events.GroupChatDismissed{ChatID: chat})
	case r == 1:
		return send(corp, stream, "wecom", &events.GroupChatRenamed{ChatID: chat, Name: fmt.Sprintf("group %s v%d", chat, rng.IntN(100))})
	case cs.members[chat][c]:
		delete(cs.members[chat], c)
		scene := events.QuitLeft
		if r%2 == 0 {
			scene = events.QuitRemoved
		}
		return send(corp, stream, "wecom", &events.GroupChatMemberLeft{ChatID: chat, MemberID: c, MemberType: events.MemberCustomer, QuitScene: scene})
	default:
		if cs.erased[c] {
			return nil
		}
		cs.members[chat][c] = true
		p := events.GroupMemberPII{}
		if pii {
			p.Nickname = "nick " + c
		}
		return send(corp, stream, "wecom", &events.GroupChatMemberJoined{ChatID: chat, MemberID: c, MemberType: events.MemberCustomer,
			JoinScene: events.JoinQRCode, PII: p})
	}
}

// anyKey returns a random key of m, in a reproducible way.
func anyKey(rng *rand.Rand, m map[string]bool) (string, bool) {
	if len(m) == 0 {
		return "", false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Map order is random; sort for reproducibility.
	slices.Sort(keys)
	return keys[rng.IntN(len(keys))], true
}
