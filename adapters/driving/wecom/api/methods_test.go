package api_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/standin"
)

func TestContacts(t *testing.T) {
	e := newEnv(t, "zhangwei", "lina")
	ctx := context.Background()
	const ext = "wmAAAAcustomer0000000000000001"
	g, err := e.corp.API().CreateTagGroup("客户等级", 2, "重要客户", "普通客户")
	must(t, err)
	_, err = e.corp.AddExternalContact("zhangwei", standin.Customer{ExternalUserID: ext, Name: "王五"}, standin.Add{State: "expo2026", AddWay: 1})
	must(t, err)
	remark, desc := "王总", "采购"
	_, err = e.corp.EditExternalContact("zhangwei", ext, standin.Edit{Remark: &remark, Description: &desc, AddTags: []string{g.Tags[0].ID}})
	must(t, err)
	e.clk.Add(time.Hour)
	_, err = e.corp.AddExternalContact("lina", standin.Customer{ExternalUserID: ext}, standin.Add{AddWay: 202})
	must(t, err)
	c := e.client()

	users, err := c.FollowUsers(ctx)
	must(t, err)
	if want := []string{"lina", "zhangwei"}; !reflect.DeepEqual(users, want) {
		t.Errorf("FollowUsers = %v, want %v", users, want)
	}

	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var rels []api.Relation
	must(t, c.BatchByUser(ctx, []string{"zhangwei", "lina"}, func(p []api.Relation) error { rels = append(rels, p...); return nil }))
	cu := api.Customer{ExternalUserID: ext, Name: "王五", Type: 1}
	want := []api.Relation{
		{Customer: cu, Follow: api.Follow{UserID: "lina", CreateTime: t0.Add(time.Hour), TagIDs: []string{}, AddWay: 202, OperUserID: "lina", RemarkMobiles: []string{}}},
		{Customer: cu, Follow: api.Follow{UserID: "zhangwei", Remark: "王总", Description: "采购", CreateTime: t0, TagIDs: []string{g.Tags[0].ID},
			AddWay: 1, State: "expo2026", OperUserID: "zhangwei", RemarkMobiles: []string{}}},
	}
	for i := range rels {
		rels[i].Follow.CreateTime = rels[i].Follow.CreateTime.UTC()
	}
	if !reflect.DeepEqual(rels, want) {
		t.Errorf("BatchByUser:\n got %+v\nwant %+v", rels, want)
	}

	gotCu, follows, err := c.Contact(ctx, ext)
	must(t, err)
	if gotCu != cu || len(follows) != 2 || follows[1].UserID != "zhangwei" || follows[1].State != "expo2026" ||
		!reflect.DeepEqual(follows[1].Tags, []api.FollowTag{{GroupName: "客户等级", TagName: "重要客户", TagID: g.Tags[0].ID, Type: 1}}) ||
		!reflect.DeepEqual(follows[1].TagIDs, []string{g.Tags[0].ID}) {
		t.Errorf("Contact = %+v, %+v", gotCu, follows)
	}
}

// TestPaging: 1,000 customers of one member come in 10 pages of 100; a
// customer with 1,000 followers in 2 pages of get; 150 members in 2
// batches of userids.
func TestPaging(t *testing.T) {
	var staff []string
	for i := range 150 {
		staff = append(staff, fmt.Sprintf("u%03d", i))
	}
	e := newEnv(t, staff...)
	ctx := context.Background()
	for i := range 1000 {
		_, err := e.corp.AddExternalContact("u000", standin.Customer{ExternalUserID: fmt.Sprintf("wm%06d", i)}, standin.Add{AddWay: 1})
		must(t, err)
	}
	for i := range 1000 {
		_, err := e.corp.AddExternalContact(staff[i%150], standin.Customer{ExternalUserID: "wmpopular"}, standin.Add{AddWay: 1})
		if err != nil && !errors.Is(err, standin.ErrExists) {
			t.Fatal(err)
		}
	}
	// wmpopular has 150 followers; add more members to reach 1,000.
	for i := 150; i < 1000; i++ {
		id := fmt.Sprintf("u%03d", i)
		must(t, e.corp.AddStaff(id, ""))
		_, err := e.corp.AddExternalContact(id, standin.Customer{ExternalUserID: "wmpopular"}, standin.Add{AddWay: 1})
		must(t, err)
	}
	c := e.client()

	var sizes []int
	seen := map[string]bool{}
	must(t, c.BatchByUser(ctx, []string{"u000"}, func(p []api.Relation) error {
		sizes = append(sizes, len(p))
		for _, r := range p {
			if r.Customer.ExternalUserID != "wmpopular" {
				seen[r.Customer.ExternalUserID] = true
			}
		}
		return nil
	}))
	if !reflect.DeepEqual(sizes, []int{100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 1}) || len(seen) != 1000 {
		t.Errorf("pages %v, %d distinct customers; want 10×100 then wmpopular's 1, 1,000 customers", sizes, len(seen))
	}
	if n := e.srv.Calls(standin.APIBatchGetByUser); n != 11 {
		t.Errorf("batch/get_by_user calls = %d, want 11", n)
	}

	_, follows, err := c.Contact(ctx, "wmpopular")
	must(t, err)
	if len(follows) != 1000 || e.srv.Calls(standin.APIGetContact) != 2 {
		t.Errorf("Contact: %d followers in %d calls, want 1,000 in 2", len(follows), e.srv.Calls(standin.APIGetContact))
	}

	before := e.srv.Calls(standin.APIBatchGetByUser)
	n := 0
	must(t, c.BatchByUser(ctx, staff, func(p []api.Relation) error { n += len(p); return nil }))
	// u000: 1,000 + wmpopular; u001..u149: wmpopular each → 1,150 in
	// 2 userid batches: u000..u099 hold 1,100 (11 pages), u100..u149 50.
	if calls := e.srv.Calls(standin.APIBatchGetByUser) - before; n != 1150 || calls != 12 {
		t.Errorf("150 members: %d relations in %d calls, want 1,150 in 12", n, calls)
	}

	stop := errors.New("enough")
	pagesSeen := 0
	if err := c.BatchByUser(ctx, []string{"u000"}, func([]api.Relation) error { pagesSeen++; return stop }); !errors.Is(err, stop) || pagesSeen != 1 {
		t.Errorf("callback error: %v after %d pages, want it after 1", err, pagesSeen)
	}
}

func TestGroups(t *testing.T) {
	e := newEnv(t, "zhangwei", "lina", "wangfang")
	ctx := context.Background()
	for i := range 1001 {
		owner := "zhangwei"
		if i%2 == 1 {
			owner = "lina"
		}
		_, err := e.corp.CreateGroup(standin.NewGroup{ChatID: fmt.Sprintf("wr%05d", i), Name: "群", Owner: owner})
		must(t, err)
	}
	must(t, e.corp.DepartStaff("lina"))
	_, err := e.corp.DismissGroup("wr00000")
	must(t, err)
	c := e.client()

	var all []api.GroupRef
	must(t, c.GroupChats(ctx, api.GroupFilter{}, func(p []api.GroupRef) error { all = append(all, p...); return nil }))
	if len(all) != 1000 || e.srv.Calls(standin.APIGroupChatList) != 1 {
		t.Errorf("all groups: %d in %d calls, want 1,000 (one dismissed) in 1", len(all), e.srv.Calls(standin.APIGroupChatList))
	}
	var departed []api.GroupRef
	must(t, c.GroupChats(ctx, api.GroupFilter{Status: api.GroupOwnerDeparted}, func(p []api.GroupRef) error { departed = append(departed, p...); return nil }))
	if len(departed) != 500 || departed[0] != (api.GroupRef{ChatID: "wr00001", Status: api.GroupOwnerDeparted}) {
		t.Errorf("owner departed: %d, first %+v", len(departed), departed[0])
	}
	var owned int
	must(t, c.GroupChats(ctx, api.GroupFilter{Owners: []string{"zhangwei"}}, func(p []api.GroupRef) error { owned += len(p); return nil }))
	if owned != 500 {
		t.Errorf("owned by zhangwei: %d, want 500", owned)
	}
	if err := c.GroupChats(ctx, api.GroupFilter{Status: 7}, func([]api.GroupRef) error { return nil }); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("status 7: %v", err)
	}

	_, err = e.corp.CreateGroup(standin.NewGroup{ChatID: "wrVIP", Name: "VIP 群", Notice: "欢迎", Owner: "zhangwei",
		Members: []standin.Join{{ID: "wmcustomer1", Customer: true, Scene: standin.JoinQRCode}, {ID: "wangfang", Invitor: "zhangwei", Scene: standin.JoinLink}}})
	must(t, err)
	g, err := c.GroupChat(ctx, "wrVIP", true)
	must(t, err)
	snap, _ := e.corp.Snapshot().Group("wrVIP")
	at := e.clk.Now()
	want := api.GroupChat{ChatID: "wrVIP", Name: "VIP 群", Owner: "zhangwei", Notice: "欢迎", CreateTime: at, MemberVersion: snap.MemberVersion,
		Members: []api.GroupMember{
			{UserID: "zhangwei", Type: api.MemberStaff, JoinScene: api.JoinInvited, JoinTime: at, Name: "name of zhangwei"},
			{UserID: "wmcustomer1", Type: api.MemberCustomer, JoinScene: api.JoinQRCode, JoinTime: at},
			{UserID: "wangfang", Type: api.MemberStaff, JoinScene: api.JoinLink, Invitor: "zhangwei", JoinTime: at, Name: "name of wangfang"},
		}}
	g.CreateTime = g.CreateTime.UTC()
	for i := range g.Members {
		g.Members[i].JoinTime = g.Members[i].JoinTime.UTC()
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("GroupChat:\n got %+v\nwant %+v", g, want)
	}
	if _, err := c.GroupChat(ctx, "wr00000", false); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("dismissed group: %v, want ErrNotFound", err)
	}
}

func TestCorpTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, err := e.corp.API().CreateTagGroup("客户等级", 1, "重要客户", "普通客户")
	must(t, err)
	b, err := e.corp.API().CreateTagGroup("来源", 5, "展会")
	must(t, err)
	must(t, e.corp.API().DeleteTag(a.Tags[1].ID))
	c := e.client()
	groups, err := c.CorpTags(ctx, nil, nil)
	must(t, err)
	want := []api.TagGroup{
		{ID: b.ID, Name: "来源", Order: 5, Tags: []api.Tag{{ID: b.Tags[0].ID, Name: "展会", Order: 1}}},
		{ID: a.ID, Name: "客户等级", Order: 1, Tags: []api.Tag{{ID: a.Tags[0].ID, Name: "重要客户", Order: 2}}},
	}
	if !reflect.DeepEqual(groups, want) {
		t.Errorf("CorpTags:\n got %+v\nwant %+v", groups, want)
	}
	groups, err = c.CorpTags(ctx, []string{b.Tags[0].ID}, nil)
	must(t, err)
	if len(groups) != 1 || groups[0].ID != b.ID {
		t.Errorf("CorpTags by tag id: %+v", groups)
	}
}

func TestHandovers(t *testing.T) {
	e := newEnv(t, "zhangwei", "lina", "wangfang")
	ctx := context.Background()
	for _, ext := range []string{"wm1", "wm2", "wm3"} {
		_, err := e.corp.AddExternalContact("zhangwei", standin.Customer{ExternalUserID: ext}, standin.Add{AddWay: 1})
		must(t, err)
	}
	c := e.client()
	start := e.clk.Now()

	out, err := c.TransferCustomers(ctx, api.Transfer{HandoverUserID: "zhangwei", TakeoverUserID: "lina",
		ExternalUserIDs: []string{"wm1", "wmnobody"}, Message: "您好，后续由我的同事为您服务"})
	must(t, err)
	if len(out) != 2 || out[0].Err() != nil || out[1].Code != standin.CodeInvalidExternal || !errors.Is(out[1].Err(), api.ErrNotFound) {
		t.Errorf("TransferCustomers = %+v", out)
	}
	out, err = c.TransferCustomers(ctx, api.Transfer{HandoverUserID: "zhangwei", TakeoverUserID: "lina", ExternalUserIDs: []string{"wm1"}})
	must(t, err)
	if out[0].Code != standin.CodeTransferring {
		t.Errorf("second handover of wm1: %+v, want errcode %d", out, standin.CodeTransferring)
	}
	if _, err := c.TransferCustomers(ctx, api.Transfer{HandoverUserID: "zhangwei", TakeoverUserID: "ghost", ExternalUserIDs: []string{"wm2"}}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown takeover member: %v, want ErrNotFound", err)
	}
	if _, err := c.TransferCustomers(ctx, api.Transfer{HandoverUserID: "zhangwei", TakeoverUserID: "lina", ExternalUserIDs: make([]string, 101)}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("101 customers: %v, want ErrInvalid", err)
	}

	results := func(q api.TransferQuery) []api.TransferStatus {
		t.Helper()
		var out []api.TransferStatus
		must(t, c.TransferResults(ctx, q, func(p []api.TransferStatus) error { out = append(out, p...); return nil }))
		for i := range out {
			out[i].TakeoverTime = out[i].TakeoverTime.UTC()
		}
		return out
	}
	q := api.TransferQuery{HandoverUserID: "zhangwei", TakeoverUserID: "lina"}
	if got, want := results(q), []api.TransferStatus{{ExternalUserID: "wm1", Status: api.TransferWaiting, TakeoverTime: start.Add(24 * time.Hour)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("waiting: %+v, want %+v", got, want)
	}
	e.clk.Add(24 * time.Hour)
	_, err = e.corp.TakeOver("zhangwei", "wm1")
	must(t, err)
	if got := results(q); len(got) != 1 || got[0].Status != api.TransferCompleted || !got[0].TakeoverTime.Equal(e.clk.Now()) {
		t.Errorf("completed: %+v", got)
	}

	// zhangwei departs: wm2 and wm3 are unassigned; a resigned handover
	// of wm2 takes it off the list.
	must(t, e.corp.DepartStaff("zhangwei"))
	departed := e.clk.Now()
	unassigned := func() []api.Unassigned {
		t.Helper()
		var out []api.Unassigned
		must(t, c.Unassigned(ctx, func(p []api.Unassigned) error { out = append(out, p...); return nil }))
		return out
	}
	if got := unassigned(); len(got) != 2 || got[0] != (api.Unassigned{HandoverUserID: "zhangwei", ExternalUserID: "wm2", DimissionTime: time.Unix(departed.Unix(), 0)}) {
		t.Errorf("Unassigned = %+v", got)
	}
	if _, err := c.TransferCustomers(ctx, api.Transfer{HandoverUserID: "zhangwei", TakeoverUserID: "wangfang", ExternalUserIDs: []string{"wm2"}}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("in-service handover from a departed member: %v, want ErrNotFound (40003)", err)
	}
	out, err = c.TransferCustomers(ctx, api.Transfer{Resigned: true, HandoverUserID: "zhangwei", TakeoverUserID: "wangfang", ExternalUserIDs: []string{"wm2"}})
	must(t, err)
	if out[0].Err() != nil {
		t.Errorf("resigned handover: %+v", out)
	}
	if got := unassigned(); len(got) != 1 || got[0].ExternalUserID != "wm3" {
		t.Errorf("Unassigned after the handover = %+v", got)
	}
	rq := api.TransferQuery{Resigned: true, HandoverUserID: "zhangwei", TakeoverUserID: "wangfang"}
	if got := results(rq); len(got) != 1 || got[0].Status != api.TransferWaiting {
		t.Errorf("resigned transfer_result = %+v", got)
	}
	if got := results(api.TransferQuery{HandoverUserID: "zhangwei", TakeoverUserID: "wangfang"}); len(got) != 0 {
		t.Errorf("in-service transfer_result lists a resigned handover: %+v", got)
	}
	if e.srv.Calls(standin.APIResignedTransfer) != 1 {
		t.Errorf("resigned/transfer_customer calls = %d", e.srv.Calls(standin.APIResignedTransfer))
	}
}
