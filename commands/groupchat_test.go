package commands_test

import (
	"errors"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestGroupChatCommands(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{GroupMaxMembers: 3})
		f.join("a", "b", "c")
		f.must(f.h.CreateGroupChat(f.ctx, commands.CreateGroupChat{Meta: meta(), ChatID: "g1", OwnerID: "a", Name: "VIP"}))
		joinErr := func(id string) error {
			_, err := f.h.JoinGroupChat(f.ctx, commands.JoinGroupChat{
				Meta: meta(), ChatID: "g1", MemberID: id, MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode, Nickname: "nick",
			})
			return err
		}
		for _, id := range []string{"m1", "m2", "m3"} {
			if err := joinErr(id); err != nil {
				t.Fatal(err)
			}
		}
		if err := joinErr("m4"); !errors.Is(err, groupchat.ErrGroupFull) {
			t.Fatalf("4th member of a group of 3: %v", err)
		}
		f.must(f.h.LeaveGroupChat(f.ctx, commands.LeaveGroupChat{Meta: meta(), ChatID: "g1", MemberID: "m1", QuitScene: events.QuitLeft}))
		if err := joinErr("m4"); err != nil {
			t.Fatal(err)
		}
		transfer := func(to, reason string) error {
			_, err := f.h.TransferGroupChat(f.ctx, commands.TransferGroupChat{Meta: meta(), ChatID: "g1", ToStaffID: to, Reason: reason})
			return err
		}
		if err := transfer("b", events.OwnerChangeInService); err != nil {
			t.Fatal(err)
		}
		if err := transfer("a", events.OwnerChangeInService); err != nil {
			t.Fatal(err)
		}
		if err := transfer("b", events.OwnerChangeInService); !errors.Is(err, groupchat.ErrTransferLimitReached) {
			t.Fatalf("third in-service transfer: %v", err)
		}
		f.must(f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: "a"}))
		if err := transfer("c", events.OwnerChangeResigned); err != nil {
			t.Fatalf("resigned transfer of a departed owner's group: %v", err)
		}
		f.must(f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: "b"}))
		if err := transfer("b", events.OwnerChangeInService); !errors.Is(err, groupchat.ErrTargetDeparted) {
			t.Fatalf("transfer to a departed member: %v", err)
		}
		f.must(f.h.RenameGroupChat(f.ctx, commands.RenameGroupChat{Meta: meta(), ChatID: "g1", Name: "VIP 2"}))
		f.must(f.h.ChangeGroupNotice(f.ctx, commands.ChangeGroupNotice{Meta: meta(), ChatID: "g1", Notice: "Friday"}))
		f.must(f.h.DismissGroupChat(f.ctx, commands.DismissGroupChat{Meta: meta(), ChatID: "g1"}))
		if err := joinErr("m9"); !errors.Is(err, groupchat.ErrDismissed) {
			t.Fatalf("join after dismissal: %v", err)
		}
		got := types(f.stream(events.GroupChatStream(corpID, "g1")))
		want := []string{"groupchat.created", "groupchat.member_joined", "groupchat.member_joined", "groupchat.member_joined",
			"groupchat.member_left", "groupchat.member_joined", "groupchat.owner_changed", "groupchat.owner_changed",
			"groupchat.owner_changed", "groupchat.renamed", "groupchat.notice_changed", "groupchat.dismissed"}
		if !equal(got, want) {
			t.Fatalf("group stream\n %v\nwant %v", got, want)
		}
	})
}
