package groupchat_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

var (
	t0  = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	set = corp.Defaults()
)

type fact struct {
	at time.Time
	p  events.Payload
}

func load(t *testing.T, facts ...fact) *groupchat.GroupChat {
	t.Helper()
	recs := make([]events.Recorded, len(facts))
	for i, f := range facts {
		enc, err := events.Encode("corp", f.p)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = events.Recorded{
			Event:         events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, OccurredAt: f.at, Data: enc.Data, PII: enc.PII},
			StreamVersion: int64(i),
		}
	}
	g, err := groupchat.Rehydrate("g", recs)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func created() fact {
	return fact{t0, &events.GroupChatCreated{ChatID: "g", OwnerID: "a", Name: "VIP"}}
}

func member(i int) fact {
	return fact{t0, &events.GroupChatMemberJoined{ChatID: "g", MemberID: fmt.Sprintf("m%03d", i), MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode}}
}

func members(n int) []fact {
	out := []fact{created()}
	for i := range n {
		out = append(out, member(i))
	}
	return out
}

func moved(at time.Time, from, to string) fact {
	return fact{at, &events.GroupChatOwnerChanged{ChatID: "g", FromStaffID: from, ToStaffID: to, Reason: events.OwnerChangeInService}}
}

var (
	active   = func(id string) staff.Status { return staff.Status{ID: id, Joined: true} }
	departed = func(id string) staff.Status {
		return staff.Status{ID: id, Joined: true, Departed: true, DepartedAt: t0}
	}
)

func TestGroupRules(t *testing.T) {
	day := corp.Day
	twice := []fact{created(), moved(t0, "a", "b"), moved(t0.Add(day), "b", "a")}
	join := func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return g.Join(groupchat.Member{ID: "new", Type: events.MemberStaff, Scene: events.JoinInvited, InviterID: "a"}, set)
	}
	transfer := func(reason string, owner, to staff.Status, now time.Time) func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return func(g *groupchat.GroupChat) ([]events.Payload, error) {
			return g.TransferOwner(reason, owner, to, now, set)
		}
	}
	changed := func(from, to, reason string) []events.Payload {
		return []events.Payload{&events.GroupChatOwnerChanged{ChatID: "g", FromStaffID: from, ToStaffID: to, Reason: reason}}
	}
	for _, tc := range []struct {
		name  string
		given []fact
		when  func(g *groupchat.GroupChat) ([]events.Payload, error)
		then  []events.Payload
		err   error
	}{
		{name: "create", when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.Create("a", "VIP") },
			then: []events.Payload{&events.GroupChatCreated{ChatID: "g", OwnerID: "a", Name: "VIP"}}},
		{name: "create twice", given: []fact{created()}, when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.Create("a", "") }, err: groupchat.ErrAlreadyCreated},
		{name: "join the 500th member", given: members(499), when: join,
			then: []events.Payload{&events.GroupChatMemberJoined{ChatID: "g", MemberID: "new", MemberType: events.MemberStaff, JoinScene: events.JoinInvited, InviterID: "a"}}},
		{name: "join a group at 500 members", given: members(500), when: join, err: groupchat.ErrGroupFull},
		{name: "join after someone left a full group", given: append(members(500), fact{t0, &events.GroupChatMemberLeft{ChatID: "g", MemberID: "m000", MemberType: events.MemberCustomer, QuitScene: events.QuitLeft}}), when: join,
			then: []events.Payload{&events.GroupChatMemberJoined{ChatID: "g", MemberID: "new", MemberType: events.MemberStaff, JoinScene: events.JoinInvited, InviterID: "a"}}},
		{name: "join twice", given: members(1), when: func(g *groupchat.GroupChat) ([]events.Payload, error) {
			return g.Join(groupchat.Member{ID: "m000", Type: events.MemberCustomer, Scene: events.JoinLink}, set)
		}, err: groupchat.ErrAlreadyMember},
		{name: "join before creation", when: join, err: groupchat.ErrNotCreated},
		{name: "removed", given: members(1), when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.Leave("m000", events.QuitRemoved) },
			then: []events.Payload{&events.GroupChatMemberLeft{ChatID: "g", MemberID: "m000", MemberType: events.MemberCustomer, QuitScene: events.QuitRemoved}}},
		{name: "leave without membership", given: members(1), when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.Leave("x", events.QuitLeft) }, err: groupchat.ErrNotMember},
		{name: "in-service transfer", given: []fact{created()}, when: transfer(events.OwnerChangeInService, active("a"), active("b"), t0),
			then: changed("a", "b", events.OwnerChangeInService)},
		{name: "third in-service transfer within 90 days", given: twice, when: transfer(events.OwnerChangeInService, active("a"), active("c"), t0.Add(89*day)), err: groupchat.ErrTransferLimitReached},
		{name: "third in-service transfer exactly 90 days after the first", given: twice, when: transfer(events.OwnerChangeInService, active("a"), active("c"), t0.Add(90*day)),
			then: changed("a", "c", events.OwnerChangeInService)},
		{name: "in-service from a departed owner", given: []fact{created()}, when: transfer(events.OwnerChangeInService, departed("a"), active("b"), t0), err: groupchat.ErrOwnerDeparted},
		{name: "resigned transfer of a departed owner's group, beyond the in-service limit", given: twice, when: transfer(events.OwnerChangeResigned, departed("a"), active("c"), t0.Add(2*day)),
			then: changed("a", "c", events.OwnerChangeResigned)},
		{name: "resigned transfer from an active owner", given: []fact{created()}, when: transfer(events.OwnerChangeResigned, active("a"), active("b"), t0), err: groupchat.ErrOwnerNotDeparted},
		{name: "departed target receives no group", given: []fact{created()}, when: transfer(events.OwnerChangeInService, active("a"), departed("b"), t0), err: groupchat.ErrTargetDeparted},
		{name: "unknown target", given: []fact{created()}, when: transfer(events.OwnerChangeInService, active("a"), staff.Status{ID: "b"}, t0), err: groupchat.ErrUnknownTarget},
		{name: "to the owner", given: []fact{created()}, when: transfer(events.OwnerChangeInService, active("a"), active("a"), t0), err: groupchat.ErrSameOwner},
		{name: "reported by WeCom: a fact", given: twice, when: transfer(events.OwnerChangeWeCom, staff.Status{}, staff.Status{ID: "z"}, t0.Add(day)),
			then: changed("a", "z", events.OwnerChangeWeCom)},
		{name: "rename", given: []fact{created()}, when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.Rename("VIP 2") },
			then: []events.Payload{&events.GroupChatRenamed{ChatID: "g", Name: "VIP 2"}}},
		{name: "same name", given: []fact{created()}, when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.Rename("VIP") }},
		{name: "notice", given: []fact{created()}, when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.ChangeNotice("Friday") },
			then: []events.Payload{&events.GroupChatNoticeChanged{ChatID: "g", Notice: "Friday"}}},
		{name: "dismiss", given: []fact{created()}, when: func(g *groupchat.GroupChat) ([]events.Payload, error) { return g.Dismiss() },
			then: []events.Payload{&events.GroupChatDismissed{ChatID: "g"}}},
		{name: "nothing after dismissal", given: []fact{created(), {t0, &events.GroupChatDismissed{ChatID: "g"}}}, when: join, err: groupchat.ErrDismissed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.when(load(t, tc.given...))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("got %#v, want %#v", got, tc.then)
			}
		})
	}
	var fe *groupchat.FullError
	if _, err := join(load(t, members(500)...)); !errors.As(err, &fe) || fe.Members != 500 || fe.Max != 500 {
		t.Fatalf("full error = %#v", err)
	}
}
