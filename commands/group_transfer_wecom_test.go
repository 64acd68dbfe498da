package commands_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// fakeGroupTransfers answers as told and remembers what it was asked.
type fakeGroupTransfers struct {
	mu    sync.Mutex
	calls []string // chat>owner/resigned
	err   error
}

func (g *fakeGroupTransfers) TransferGroupOwner(_ context.Context, corpID, chatID, newOwner string, resigned bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	call := chatID + ">" + newOwner
	if resigned {
		call += "/resigned"
	}
	g.calls = append(g.calls, call)
	return g.err
}

func (g *fakeGroupTransfers) asked() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

func TestTransferGroupChatInWeCom(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		for _, inWeCom := range []bool{true, false} {
			port := &fakeGroupTransfers{}
			corpID := "wwgroups"
			if !inWeCom {
				corpID = "wwlocal"
			}
			h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Clock: &clock{t: t0}, GroupTransfers: port,
				Settings: commands.SettingsMap{corpID: corp.Settings{HandoversInWeCom: inWeCom}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			m := commands.Meta{CorpID: corpID, Actor: "admin:ops"}
			for _, id := range []string{"a", "b", "c"} {
				if _, err := h.JoinStaff(ctx, commands.JoinStaff{Meta: m, StaffID: id, Name: "n"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.CreateGroupChat(ctx, commands.CreateGroupChat{Meta: m, ChatID: "g1", OwnerID: "a"}); err != nil {
				t.Fatal(err)
			}
			transfer := func(to, reason string) error {
				_, err := h.TransferGroupChat(ctx, commands.TransferGroupChat{Meta: m, ChatID: "g1", ToStaffID: to, Reason: reason})
				return err
			}
			owners := func() int {
				n := 0
				recs, err := log.ReadStream(ctx, events.GroupChatStream(corpID, "g1"), 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if r.Type == "groupchat.owner_changed" {
						n++
					}
				}
				return n
			}

			// WeCom refuses: nothing recorded, WeCom's errcode answered.
			port.err = &commands.WeComRefusal{API: "externalcontact/groupchat/onjob_transfer", Code: 90502, Msg: "owner resigned"}
			err = transfer("b", events.OwnerChangeInService)
			var ref *commands.WeComRefusal
			if inWeCom && (!errors.As(err, &ref) || ref.Code != 90502 || !errors.Is(err, commands.ErrRefusedByWeCom)) {
				t.Fatalf("refused by WeCom: %v", err)
			}
			if !inWeCom && err != nil {
				t.Fatalf("local corp: %v", err)
			}
			if n := owners(); inWeCom && n != 0 {
				t.Fatalf("%d owner changes recorded after WeCom's refusal", n)
			}
			port.err = &unclear{}
			if err := transfer("b", events.OwnerChangeInService); inWeCom && !errors.Is(err, commands.ErrWeComUnavailable) {
				t.Fatalf("WeCom unclear: %v", err)
			}
			port.err = nil
			if inWeCom {
				if err := transfer("b", events.OwnerChangeInService); err != nil {
					t.Fatal(err)
				}
			}
			if err := transfer("a", events.OwnerChangeInService); err != nil {
				t.Fatal(err)
			}
			before := len(port.asked())
			// custody's own 90-day rule refuses without asking WeCom.
			if err := transfer("b", events.OwnerChangeInService); !errors.Is(err, groupchat.ErrTransferLimitReached) {
				t.Fatalf("third in-service transfer: %v", err)
			}
			if _, err := h.DepartStaff(ctx, commands.DepartStaff{Meta: m, StaffID: "a"}); err != nil {
				t.Fatal(err)
			}
			if err := transfer("c", events.OwnerChangeResigned); err != nil {
				t.Fatal(err)
			}
			// WeCom's own report is recorded without asking WeCom.
			if err := transfer("b", events.OwnerChangeWeCom); err != nil {
				t.Fatal(err)
			}
			got := port.asked()
			if !inWeCom {
				if len(got) != 0 {
					t.Fatalf("local corp asked WeCom: %v", got)
				}
				continue
			}
			want := []string{"g1>b", "g1>b", "g1>b", "g1>a", "g1>c/resigned"}
			if !equal(got, want) {
				t.Fatalf("asked WeCom %v, want %v", got, want)
			}
			if before != 4 {
				t.Fatalf("asked %d times before the refused third transfer", before)
			}
			if n := owners(); n != 4 {
				t.Fatalf("%d owner changes recorded, want 4", n)
			}
		}
	})
}

type unclear struct{}

func (*unclear) Error() string { return "wecom: timeout" }
func (*unclear) Unwrap() error { return commands.ErrWeComUnavailable }
