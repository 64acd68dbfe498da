package api_test

import (
	"context"
	"errors"
	"testing"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/standin"
)

func TestGroupTransfer(t *testing.T) {
	e := newEnv(t, "zhangwei", "lina", "wangfang", "gone")
	ctx := context.Background()
	c := e.client()
	for _, g := range []standin.NewGroup{
		{ChatID: "wrA", Owner: "zhangwei"}, {ChatID: "wrB", Owner: "zhangwei"},
		{ChatID: "wrC", Owner: "wangfang"}, {ChatID: "wrD", Owner: "zhangwei"},
	} {
		_, err := e.corp.CreateGroup(g)
		must(t, err)
	}
	_, err := e.corp.DismissGroup("wrD")
	must(t, err)
	must(t, e.corp.DepartStaff("wangfang"))
	must(t, e.corp.DepartStaff("gone"))
	group := func(id string) standin.Group {
		for _, g := range e.corp.Snapshot().Groups {
			if g.ChatID == id {
				return g
			}
		}
		t.Fatalf("no group %s", id)
		return standin.Group{}
	}

	// In service: wrA handed over; wrC's owner departed, wrD dismissed,
	// wrX unknown fail per chat.
	failed, err := c.GroupTransfer(ctx, []string{"wrA", "wrC", "wrD", "wrX"}, "lina", false)
	must(t, err)
	codes := map[string]int{}
	for _, f := range failed {
		codes[f.ChatID] = f.Code
	}
	want := map[string]int{"wrC": standin.CodeOwnerDeparted, "wrD": standin.CodeInvalidChatID, "wrX": standin.CodeInvalidChatID}
	if len(codes) != len(want) {
		t.Fatalf("failed = %+v, want %v", failed, want)
	}
	for id, code := range want {
		if codes[id] != code {
			t.Errorf("%s: errcode %d, want %d", id, codes[id], code)
		}
	}
	if g := group("wrA"); g.Owner != "lina" {
		t.Errorf("wrA owner %q, want lina", g.Owner)
	}
	if len(failed) > 0 {
		var ae *api.Error
		if err := failed[0].Err(); !errors.As(err, &ae) || ae.Code != failed[0].Code {
			t.Errorf("Err() = %v", err)
		}
	}

	// Resigned: wrC (owner departed) handed over, status 3; wrB's owner
	// is in service.
	failed, err = c.GroupTransfer(ctx, []string{"wrC", "wrB"}, "lina", true)
	must(t, err)
	if len(failed) != 1 || failed[0].ChatID != "wrB" || failed[0].Code != standin.CodeOwnerInService {
		t.Errorf("resigned: failed = %+v, want only wrB %d", failed, standin.CodeOwnerInService)
	}
	if g := group("wrC"); g.Owner != "lina" || g.Status != standin.GroupHandoverDone {
		t.Errorf("wrC owner %q status %d, want lina %d", g.Owner, g.Status, standin.GroupHandoverDone)
	}
	if g := group("wrB"); g.Owner != "zhangwei" {
		t.Errorf("wrB owner %q, want zhangwei", g.Owner)
	}

	// A departed new owner fails the call; bad arguments never reach WeCom.
	if _, err := c.GroupTransfer(ctx, []string{"wrB"}, "gone", false); !errors.Is(err, api.ErrNotFound) && !errors.Is(err, api.ErrInvalid) {
		t.Errorf("departed new owner: %v", err)
	}
	if _, err := c.GroupTransfer(ctx, make([]string, 101), "lina", false); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("101 chats: %v", err)
	}
	if _, err := c.GroupTransfer(ctx, []string{"wrB"}, "", false); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("no new owner: %v", err)
	}
	if g := group("wrB"); g.Owner != "zhangwei" {
		t.Errorf("wrB owner %q after refusals, want zhangwei", g.Owner)
	}
}
