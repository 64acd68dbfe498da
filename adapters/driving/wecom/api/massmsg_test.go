package api_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/standin"
)

// TestMassMessageResults: a mass message to customers and one to groups,
// created with add_msg_template and confirmed by the members, read back
// over WeCom's protocol from the stand-in: the messages in a range, each
// member's task, and each recipient's status, in pages.
func TestMassMessageResults(t *testing.T) {
	e := newEnv(t, "zhangwei", "lina")
	ctx := context.Background()
	c := e.client()
	for i := range 1200 {
		_, err := e.corp.AddExternalContact("zhangwei", standin.Customer{ExternalUserID: fmt.Sprintf("wm%04d", i)}, standin.Add{AddWay: 1})
		must(t, err)
	}
	_, err := e.corp.AddExternalContact("lina", standin.Customer{ExternalUserID: "wm0001"}, standin.Add{AddWay: 1})
	must(t, err)
	_, err = e.corp.CreateGroup(standin.NewGroup{ChatID: "wrA", Owner: "lina"})
	must(t, err)
	start := e.clk.Now()
	var all []string
	for i := range 1200 {
		all = append(all, fmt.Sprintf("wm%04d", i))
	}
	single, failed, err := e.corp.AddMsgTemplate(standin.ChatTypeSingle, "", append(all, "wmNobody"), "春季新品")
	must(t, err)
	if !slices.Equal(failed, []string{"wmNobody"}) {
		t.Fatalf("failed %v", failed)
	}
	group, _, err := e.corp.AddMsgTemplate(standin.ChatTypeGroup, "lina", []string{"wrA"}, "群发")
	must(t, err)
	e.clk.Add(time.Hour)
	_, err = e.corp.DelFollowUser("zhangwei", "wm0007")
	must(t, err)
	must(t, e.corp.ConfirmMassMessage(single, "zhangwei"))
	must(t, e.corp.ConfirmMassMessage(group, "lina"))
	sentAt := e.clk.Now().Unix()

	var msgs []api.MassMessage
	must(t, c.MassMessages(ctx, api.ChatTypeSingle, start.Add(-time.Hour), start.Add(24*time.Hour), func(p []api.MassMessage) error {
		msgs = append(msgs, p...)
		return nil
	}))
	if len(msgs) != 1 || msgs[0].MsgID != single || !msgs[0].CreateTime.Equal(start.Truncate(time.Second)) {
		t.Fatalf("messages %+v", msgs)
	}
	tasks := map[string]api.MassTask{}
	must(t, c.MassMessageTasks(ctx, single, func(p []api.MassTask) error {
		for _, tk := range p {
			tasks[tk.UserID] = tk
		}
		return nil
	}))
	if len(tasks) != 2 || tasks["zhangwei"].Status != api.TaskSent || tasks["zhangwei"].SendTime.Unix() != sentAt ||
		tasks["lina"].Status != api.TaskUnsent {
		t.Fatalf("tasks %+v", tasks)
	}
	status := map[int]int{}
	pages := 0
	must(t, c.MassMessageSends(ctx, single, "zhangwei", func(p []api.MassSend) error {
		pages++
		for _, s := range p {
			status[s.Status]++
			if s.UserID != "zhangwei" || (s.Status == api.SendSent) != (s.SendTime.Unix() == sentAt) {
				t.Fatalf("send %+v", s)
			}
		}
		return nil
	}))
	if pages != 2 || status[api.SendSent] != 1199 || status[api.SendNotFriend] != 1 {
		t.Fatalf("%d pages, statuses %v", pages, status)
	}
	var gs []api.MassSend
	must(t, c.MassMessageSends(ctx, group, "lina", func(p []api.MassSend) error { gs = append(gs, p...); return nil }))
	if len(gs) != 1 || gs[0].ChatID != "wrA" || gs[0].Status != api.SendSent {
		t.Fatalf("group sends %+v", gs)
	}
	// Bad input is refused before a call.
	for _, err := range []error{
		c.MassMessages(ctx, "broadcast", start, start, func([]api.MassMessage) error { return nil }),
		c.MassMessages(ctx, api.ChatTypeSingle, start, start.Add(40*24*time.Hour), func([]api.MassMessage) error { return nil }),
		c.MassMessageTasks(ctx, "", func([]api.MassTask) error { return nil }),
		c.MassMessageSends(ctx, single, "", func([]api.MassSend) error { return nil }),
	} {
		if !errors.Is(err, api.ErrInvalid) {
			t.Errorf("bad input: %v", err)
		}
	}
}
