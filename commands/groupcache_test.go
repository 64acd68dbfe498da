package commands_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// A Handler keeps the group chats it decided on: a command on a group
// reads only the events appended since its last one, whoever appended
// them, and decides on the group as it stands.
func TestGroupCommandsReadOnlyTheTail(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		cl := &countingLog{EventLog: log}
		f := newFixture(t, cl, eraser, corp.Settings{GroupMaxMembers: 100})
		other := newFixture(t, log, eraser, corp.Settings{GroupMaxMembers: 100}) // another process
		f.join("a")
		f.must(f.h.CreateGroupChat(f.ctx, commands.CreateGroupChat{Meta: meta(), ChatID: "g1", OwnerID: "a", Name: "VIP"}))
		join := func(f *fixture, id, key string) (commands.Result, error) {
			m := meta()
			m.CommandID = key
			return f.h.JoinGroupChat(f.ctx, commands.JoinGroupChat{
				Meta: m, ChatID: "g1", MemberID: id, MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode, Nickname: "昵称",
			})
		}
		for i := range 30 {
			f.must(join(f, fmt.Sprintf("m%d", i), ""))
		}
		cl.reset()
		f.must(join(f, "m30", ""))
		if reads, evs := groupReads(cl); reads != 1 || evs > 1 {
			t.Errorf("a join after 31 events read the group %d times, %d events; want once, at most the one appended last", reads, evs)
		}

		// Another process changes the group: this Handler's next command
		// reads those events and decides on them.
		f.must(other.h.LeaveGroupChat(other.ctx, commands.LeaveGroupChat{Meta: meta(), ChatID: "g1", MemberID: "m0", QuitScene: events.QuitLeft}))
		f.must(join(other, "m40", ""))
		if _, err := join(f, "m40", ""); !errors.Is(err, groupchat.ErrAlreadyMember) {
			t.Fatalf("joining m40, whom another process added: %v, want ErrAlreadyMember", err)
		}
		if reads, evs := groupReads(cl); reads != 1 || evs != 3 {
			t.Errorf("after another process's two events: %d reads, %d events; want 1 read of 3 (the last own join and the two)", reads, evs)
		}
		f.must(join(f, "m0", "")) // left in the other process: may join again

		// A command carried out again with its id answers its first
		// outcome and appends nothing, warm or cold, after later events.
		first, err := join(f, "m50", "k-50")
		if err != nil {
			t.Fatal(err)
		}
		f.must(join(other, "m51", ""))
		f.must(join(f, "m52", ""))
		cold := newFixture(t, log, eraser, corp.Settings{GroupMaxMembers: 100})
		for name, fx := range map[string]*fixture{"warm": f, "cold": cold} {
			again, err := join(fx, "m50", "k-50")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !again.Replayed || len(again.Events) != 1 || again.Events[0].ID != first.Events[0].ID {
				t.Fatalf("%s: the join carried out again answered %+v, want the first one's event %s replayed", name, again, first.Events[0].ID)
			}
		}
		joins := 0
		for _, r := range f.stream(events.GroupChatStream(corpID, "g1")) {
			if p, ok := decode(t, r).(*events.GroupChatMemberJoined); ok && p.MemberID == "m50" {
				joins++
			}
		}
		if joins != 1 {
			t.Fatalf("m50 joined %d times in the stream, want once", joins)
		}
	})
}

// groupReads returns the group chat stream reads cl counted since its
// last reset, and the events they returned, and resets it.
func groupReads(cl *countingLog) (reads, evs int) {
	r, e := cl.resetWithEvents()
	return r["groupchat"], e["groupchat"]
}

// An event a group cannot replay stops every command on that group with a
// StreamError, whether the Handler kept the group or reads it whole.
func TestGroupCommandsOnAStreamThatDoesNotReplay(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		f.must(f.h.CreateGroupChat(f.ctx, commands.CreateGroupChat{Meta: meta(), ChatID: "g1", OwnerID: "a", Name: "VIP"}))
		join := func(f *fixture, id string) error {
			_, err := f.h.JoinGroupChat(f.ctx, commands.JoinGroupChat{
				Meta: meta(), ChatID: "g1", MemberID: id, MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode,
			})
			return err
		}
		if err := join(f, "m1"); err != nil {
			t.Fatal(err)
		}
		// Another group's event in g1's stream.
		e, err := events.New(uuid.New(), events.Meta{CorpID: corpID, OccurredAt: t0, Actor: "system"},
			&events.GroupChatRenamed{ChatID: "g2", Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(f.ctx, events.GroupChatStream(corpID, "g1"), eventlog.ExpectAny, e); err != nil {
			t.Fatal(err)
		}
		cold := newFixture(t, log, eraser, corp.Settings{})
		for i, fx := range []*fixture{f, f, cold} {
			var se *commands.StreamError
			if err := join(fx, fmt.Sprintf("m%d", i+2)); !errors.As(err, &se) {
				t.Fatalf("command %d on a group whose stream holds another group's event: %v, want a StreamError", i, err)
			}
		}
	})
}

// Many goroutines of two Handlers (two processes) join one group with a
// cap of 40 members, each joiner once: exactly 40 join, the others are
// refused as the group is full, and the stream records each member once,
// whichever Handler's kept group was stale.
func TestConcurrentGroupJoinsKeepTheCap(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		const maxMembers, joiners = 40, 120
		set := corp.Settings{GroupMaxMembers: maxMembers}
		a, b := newFixture(t, log, eraser, set), newFixture(t, log, eraser, set)
		a.join("owner")
		a.must(a.h.CreateGroupChat(a.ctx, commands.CreateGroupChat{Meta: meta(), ChatID: "g1", OwnerID: "owner", Name: "VIP"}))
		var (
			wg           sync.WaitGroup
			mu           sync.Mutex
			joined, full int
			others       []error
		)
		for i := range joiners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := a
				if i%2 == 1 {
					f = b
				}
				m := meta()
				m.CommandID = fmt.Sprintf("join-%d", i)
				_, err := f.h.JoinGroupChat(f.ctx, commands.JoinGroupChat{
					Meta: m, ChatID: "g1", MemberID: fmt.Sprintf("m%d", i), MemberType: events.MemberCustomer, JoinScene: events.JoinLink,
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					joined++
				case errors.Is(err, groupchat.ErrGroupFull):
					full++
				default:
					others = append(others, err)
				}
			}()
		}
		wg.Wait()
		if len(others) > 0 || joined != maxMembers || full != joiners-maxMembers {
			t.Fatalf("%d joined, %d refused as full, other errors %v; want %d and %d", joined, full, others, maxMembers, joiners-maxMembers)
		}
		seen := map[string]bool{}
		for _, r := range a.stream(events.GroupChatStream(corpID, "g1")) {
			if p, ok := decode(t, r).(*events.GroupChatMemberJoined); ok {
				if seen[p.MemberID] {
					t.Fatalf("%s joined twice", p.MemberID)
				}
				seen[p.MemberID] = true
			}
		}
		if len(seen) != maxMembers {
			t.Fatalf("the stream records %d joins, want %d", len(seen), maxMembers)
		}
	})
}
