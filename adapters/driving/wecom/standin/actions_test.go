package standin

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/payload"
)

// fieldsOf reads the payload fields the actions set, by element name.
func fieldsOf(e payload.Event) map[string]string {
	m := map[string]string{
		"UserID": e.UserID, "ExternalUserID": e.ExternalUserID, "State": e.State, "WelcomeCode": e.WelcomeCode,
		"Source": e.Source, "FailReason": e.FailReason, "ChatId": e.ChatID, "UpdateDetail": e.UpdateDetail,
		"JoinScene": e.JoinScene.Raw, "QuitScene": e.QuitScene.Raw, "MemChangeCnt": e.MemChangeCnt.Raw,
		"LastMemVer": e.LastMemVer, "CurMemVer": e.CurMemVer, "Id": e.ID, "TagType": e.TagType,
	}
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// TestActionPayloads runs every action, delivers its callback to a
// receiver that opens and parses it as custody does, and checks the Kind,
// the header and every field WECOM.md lists for it.
func TestActionPayloads(t *testing.T) {
	c, clk := newCorp(t)
	rc := newReceiver(t)
	e := newEmitter(t, c, rc, Habits{})
	const ext, ext2 = "wmAAAAcustomer0000000000000001", "wmAAAAcustomer0000000000000002"
	var tagGroup TagGroup
	var tag Tag

	type want struct {
		kind   string
		fields map[string]string // exact; "*" means present, any value
		items  []string
	}
	steps := []struct {
		name string
		do   func() ([]Callback, error)
		want []want
	}{
		{"tag group created", func() ([]Callback, error) {
			g, cb, err := c.CreateTagGroup("客户等级", 1, "重要客户", "普通客户")
			tagGroup = g
			return []Callback{cb}, err
		}, []want{{kind: "change_external_tag/create", fields: map[string]string{"Id": "*", "TagType": "tag_group"}}}},
		{"tag created", func() ([]Callback, error) {
			t, cb, err := c.CreateTag(tagGroup.ID, "高意向", 5)
			tag = t
			return []Callback{cb}, err
		}, []want{{kind: "change_external_tag/create", fields: map[string]string{"Id": "*", "TagType": "tag"}}}},
		{"add", one(func() (Callback, error) {
			return c.AddExternalContact("zhangwei", Customer{ExternalUserID: ext, Name: "陈静"}, Add{State: "expo2026", AddWay: 1})
		}), []want{{kind: "change_external_contact/add_external_contact",
			fields: map[string]string{"UserID": "zhangwei", "ExternalUserID": ext, "State": "expo2026", "WelcomeCode": "*"}}}},
		{"half add", one(func() (Callback, error) {
			return c.AddHalfExternalContact("lina", Customer{ExternalUserID: ext}, Add{State: "wechat-ad", AddWay: 1})
		}), []want{{kind: "change_external_contact/add_half_external_contact",
			fields: map[string]string{"UserID": "lina", "ExternalUserID": ext, "State": "wechat-ad", "WelcomeCode": "*"}}}},
		{"edit", one(func() (Callback, error) {
			r := "展会认识"
			return c.EditExternalContact("zhangwei", ext, Edit{Remark: &r, AddTags: []string{tag.ID}})
		}), []want{{kind: "change_external_contact/edit_external_contact",
			fields: map[string]string{"UserID": "zhangwei", "ExternalUserID": ext}}}},
		{"customer deletes staff", one(func() (Callback, error) { return c.DelFollowUser("lina", ext) }),
			[]want{{kind: "change_external_contact/del_follow_user", fields: map[string]string{"UserID": "lina", "ExternalUserID": ext}}}},
		{"staff adds another", one(func() (Callback, error) {
			return c.AddExternalContact("10086", Customer{ExternalUserID: ext2}, Add{AddWay: 2})
		}), []want{{kind: "change_external_contact/add_external_contact",
			fields: map[string]string{"UserID": "10086", "ExternalUserID": ext2, "WelcomeCode": "*"}}}},
		{"staff deletes customer", one(func() (Callback, error) { return c.DelExternalContact("10086", ext2) }),
			[]want{{kind: "change_external_contact/del_external_contact", fields: map[string]string{"UserID": "10086", "ExternalUserID": ext2}}}},
		{"handover refused", func() ([]Callback, error) {
			if err := c.API().TransferCustomer("zhangwei", "lina", ext); err != nil {
				return nil, err
			}
			cb, err := c.FailTransfer("zhangwei", ext, FailCustomerRefused)
			return []Callback{cb}, err
		}, []want{{kind: "change_external_contact/transfer_fail",
			fields: map[string]string{"UserID": "lina", "ExternalUserID": ext, "FailReason": "customer_refused"}}}},
		{"handover over the limit", func() ([]Callback, error) {
			if err := c.API().TransferCustomer("zhangwei", "10086", ext); err != nil {
				return nil, err
			}
			cb, err := c.FailTransfer("zhangwei", ext, FailCustomerLimitExceed)
			return []Callback{cb}, err
		}, []want{{kind: "change_external_contact/transfer_fail",
			fields: map[string]string{"UserID": "10086", "ExternalUserID": ext, "FailReason": "customer_limit_exceed"}}}},
		{"handover completed", func() ([]Callback, error) {
			if err := c.API().TransferCustomer("zhangwei", "lina", ext); err != nil {
				return nil, err
			}
			return c.TakeOver("zhangwei", ext)
		}, []want{
			{kind: "change_external_contact/add_external_contact", fields: map[string]string{"UserID": "lina", "ExternalUserID": ext}},
			{kind: "change_external_contact/del_external_contact",
				fields: map[string]string{"UserID": "zhangwei", "ExternalUserID": ext, "Source": "DELETE_BY_TRANSFER"}},
		}},
		{"group created", one(func() (Callback, error) {
			return c.CreateGroup(NewGroup{ChatID: "wrChat0001", Name: "会员福利群", Owner: "lina",
				Members: []Join{{ID: ext, Customer: true, Invitor: "lina"}, {ID: "zhangwei", Invitor: "lina"}}})
		}), []want{{kind: "change_external_chat/create", fields: map[string]string{"ChatId": "wrChat0001"}}}},
		{"joined by QR code", one(func() (Callback, error) {
			return c.JoinGroup("wrChat0001", Join{ID: ext2, Customer: true, Scene: JoinQRCode}, Join{ID: "wmQR2", Customer: true, Scene: JoinQRCode})
		}), []want{{kind: "change_external_chat/update/add_member",
			fields: map[string]string{"ChatId": "wrChat0001", "UpdateDetail": "add_member", "JoinScene": "3", "MemChangeCnt": "2",
				"LastMemVer": "*", "CurMemVer": "*"}, items: []string{ext2, "wmQR2"}}}},
		{"invited by link", one(func() (Callback, error) {
			return c.JoinGroup("wrChat0001", Join{ID: "wmLink", Customer: true, Scene: JoinLink, Invitor: "lina"})
		}), []want{{kind: "change_external_chat/update/add_member",
			fields: map[string]string{"ChatId": "wrChat0001", "UpdateDetail": "add_member", "JoinScene": "0", "MemChangeCnt": "1",
				"LastMemVer": "*", "CurMemVer": "*"}, items: []string{"wmLink"}}}},
		{"left", one(func() (Callback, error) { return c.LeaveGroup("wrChat0001", false, ext2) }),
			[]want{{kind: "change_external_chat/update/del_member",
				fields: map[string]string{"ChatId": "wrChat0001", "UpdateDetail": "del_member", "QuitScene": "0", "MemChangeCnt": "1",
					"LastMemVer": "*", "CurMemVer": "*"}, items: []string{ext2}}}},
		{"removed", one(func() (Callback, error) { return c.LeaveGroup("wrChat0001", true, "wmQR2", "wmLink") }),
			[]want{{kind: "change_external_chat/update/del_member",
				fields: map[string]string{"ChatId": "wrChat0001", "UpdateDetail": "del_member", "QuitScene": "1", "MemChangeCnt": "2",
					"LastMemVer": "*", "CurMemVer": "*"}, items: []string{"wmQR2", "wmLink"}}}},
		{"owner changed", one(func() (Callback, error) { return c.ChangeGroupOwner("wrChat0001", "zhangwei") }),
			[]want{{kind: "change_external_chat/update/change_owner", fields: map[string]string{"ChatId": "wrChat0001", "UpdateDetail": "change_owner"}}}},
		{"renamed", one(func() (Callback, error) { return c.RenameGroup("wrChat0001", "VIP 会员群") }),
			[]want{{kind: "change_external_chat/update/change_name", fields: map[string]string{"ChatId": "wrChat0001", "UpdateDetail": "change_name"}}}},
		{"notice", one(func() (Callback, error) { return c.ChangeGroupNotice("wrChat0001", "本周六门店活动") }),
			[]want{{kind: "change_external_chat/update/change_notice", fields: map[string]string{"ChatId": "wrChat0001", "UpdateDetail": "change_notice"}}}},
		{"dismissed", one(func() (Callback, error) { return c.DismissGroup("wrChat0001") }),
			[]want{{kind: "change_external_chat/dismiss", fields: map[string]string{"ChatId": "wrChat0001"}}}},
		{"tag renamed", one(func() (Callback, error) { return c.UpdateTag(tag.ID, "高意向客户", 6) }),
			[]want{{kind: "change_external_tag/update", fields: map[string]string{"Id": "*", "TagType": "tag"}}}},
		{"tag group renamed", one(func() (Callback, error) { return c.UpdateTag(tagGroup.ID, "客户分级", 2) }),
			[]want{{kind: "change_external_tag/update", fields: map[string]string{"Id": "*", "TagType": "tag_group"}}}},
		{"tags shuffled", one(func() (Callback, error) {
			return c.ShuffleTags(tagGroup.ID, tag.ID, tagGroup.Tags[1].ID, tagGroup.Tags[0].ID)
		}), []want{{kind: "change_external_tag/shuffle", fields: map[string]string{"Id": "*"}}}},
		{"tag deleted", one(func() (Callback, error) { return c.DeleteTag(tag.ID) }),
			[]want{{kind: "change_external_tag/delete", fields: map[string]string{"Id": "*", "TagType": "tag"}}}},
		{"tag group deleted", one(func() (Callback, error) { return c.DeleteTag(tagGroup.ID) }),
			[]want{{kind: "change_external_tag/delete", fields: map[string]string{"Id": "*", "TagType": "tag_group"}}}},
	}
	for _, st := range steps {
		clk.Add(17 * time.Minute)
		cbs, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(cbs) != len(st.want) {
			t.Fatalf("%s: %d callbacks, want %d", st.name, len(cbs), len(st.want))
		}
		before := len(rc.requests())
		for _, cb := range cbs {
			d, err := e.Send(context.Background(), cb)
			if err != nil || !d.Answered || d.Requests != 1 {
				t.Fatalf("%s: delivery %+v, %v", st.name, d, err)
			}
		}
		got := rc.opened()[before:]
		for i, w := range st.want {
			ev := got[i].event
			if ev.Kind() != w.kind || cbs[i].Kind() != w.kind {
				t.Errorf("%s: kind %q (callback says %q), want %q", st.name, ev.Kind(), cbs[i].Kind(), w.kind)
			}
			if ev.ToUserName != testCorpID || ev.FromUserName != "sys" || ev.MsgType != "event" ||
				!ev.CreateTime.Valid || ev.CreateTime.Value != clk.Now().Unix() {
				t.Errorf("%s: header %q %q %q %+v", st.name, ev.ToUserName, ev.FromUserName, ev.MsgType, ev.CreateTime)
			}
			gotFields := fieldsOf(ev)
			for k, v := range w.fields {
				if v == "*" && gotFields[k] != "" {
					gotFields[k] = "*"
				}
			}
			if !reflect.DeepEqual(gotFields, w.fields) {
				t.Errorf("%s: fields %v, want %v", st.name, gotFields, w.fields)
			}
			if !slices.Equal(ev.MemChangeList, w.items) {
				t.Errorf("%s: MemChangeList %v, want %v", st.name, ev.MemChangeList, w.items)
			}
			if len(ev.Extra) != 0 {
				t.Errorf("%s: unexpected elements %v", st.name, ev.Extra)
			}
			if err := ev.Validate(); err != nil {
				t.Errorf("%s: %v", st.name, err)
			}
		}
	}
	if s := e.Stats(); s.Sent != len(rc.requests()) || s.Answered != s.Sent || s.Lost != 0 || s.Retried != 0 {
		t.Errorf("stats %+v for %d requests", s, len(rc.requests()))
	}
}

func one(f func() (Callback, error)) func() ([]Callback, error) {
	return func() ([]Callback, error) {
		cb, err := f()
		return []Callback{cb}, err
	}
}

// TestSnapshotReflectsActions checks the state WeCom's API would report
// after the actions, and that changes through the API leave no callback.
func TestSnapshotReflectsActions(t *testing.T) {
	c, clk := newCorp(t)
	const ext = "wmCustomer1"
	if _, err := c.AddExternalContact("zhangwei", Customer{ExternalUserID: ext, Name: "陈静"}, Add{State: "expo2026", AddWay: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddExternalContact("lina", Customer{ExternalUserID: ext}, Add{State: "wechat-ad", AddWay: 1}); err != nil {
		t.Fatal(err)
	}
	before := c.Snapshot()
	clk.Add(time.Hour)
	cb := must[Callback](t)(c.DelFollowUser("lina", ext))
	s := c.Snapshot()
	f, ok := s.Follow("lina", ext)
	if !ok || !f.Deleted || f.DeletedBy != DeletedByCustomer || !f.DeletedAt.Equal(clk.Now()) || f.State != "wechat-ad" {
		t.Errorf("after del_follow_user: %+v", f)
	}
	if f, _ := s.Follow("zhangwei", ext); f.Deleted {
		t.Errorf("the other relation ended too: %+v", f)
	}
	if f, _ := before.Follow("lina", ext); f.Deleted {
		t.Error("an earlier snapshot changed")
	}
	// State is kept for the undocumented dialect only.
	if cb.Value("State") != "" {
		t.Errorf("documented del_follow_user carries State %q", cb.Value("State"))
	}
	if ev, _ := payload.Parse(cb.XML(Dialect{StateOnDelFollow: true})); ev.State != "wechat-ad" {
		t.Errorf("quirky del_follow_user State %q", ev.State)
	}
	if _, err := c.DelFollowUser("lina", ext); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}

	// A re-add starts the relation again.
	clk.Add(time.Hour)
	must[Callback](t)(c.AddExternalContact("lina", Customer{ExternalUserID: ext}, Add{State: "store-qr", AddWay: 1}))
	if f, _ := c.Snapshot().Follow("lina", ext); f.Deleted || f.State != "store-qr" || !f.CreateTime.Equal(clk.Now()) {
		t.Errorf("re-added: %+v", f)
	}

	// Edits through the API: no callback, state changed.
	g := must[TagGroup](t)(c.API().CreateTagGroup("来源", 1, "展会", "广告"))
	r := "老客户"
	if err := c.API().EditExternalContact("zhangwei", ext, Edit{Remark: &r, AddTags: []string{g.Tags[1].ID, g.Tags[0].ID}}); err != nil {
		t.Fatal(err)
	}
	f, _ = c.Snapshot().Follow("zhangwei", ext)
	want := []string{g.Tags[0].ID, g.Tags[1].ID}
	slices.Sort(want)
	if f.Remark != "老客户" || !slices.Equal(f.TagIDs, want) {
		t.Errorf("API edit: %+v", f)
	}
	if err := c.API().EditExternalContact("zhangwei", ext, Edit{AddTags: []string{"etNoSuchTag"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tag: %v", err)
	}
	// Deleting a tag takes it off the relations.
	if err := c.API().DeleteTag(g.Tags[0].ID); err != nil {
		t.Fatal(err)
	}
	if f, _ := c.Snapshot().Follow("zhangwei", ext); !slices.Equal(f.TagIDs, []string{g.Tags[1].ID}) {
		t.Errorf("after tag delete: %v", f.TagIDs)
	}

	// member_version changes on every membership change, and callbacks
	// chain LastMemVer → CurMemVer.
	must[Callback](t)(c.CreateGroup(NewGroup{ChatID: "wrG", Name: "群", Owner: "zhangwei"}))
	ver := func() string { g, _ := c.Snapshot().Group("wrG"); return g.MemberVersion }
	v0 := ver()
	changes := []func() (Callback, error){
		func() (Callback, error) { return c.JoinGroup("wrG", Join{ID: ext, Customer: true, Scene: JoinQRCode}) },
		func() (Callback, error) { return c.JoinGroup("wrG", Join{ID: "lina", Invitor: "zhangwei"}) },
		func() (Callback, error) { return c.LeaveGroup("wrG", false, ext) },
		func() (Callback, error) { return c.JoinGroup("wrG", Join{ID: ext, Customer: true, Scene: JoinQRCode}) },
	}
	seen := map[string]bool{v0: true}
	last := v0
	for i, ch := range changes {
		cb := must[Callback](t)(ch())
		v := ver()
		if seen[v] {
			t.Errorf("change %d: member_version %q seen before", i, v)
		}
		seen[v] = true
		if cb.Value("LastMemVer") != last || cb.Value("CurMemVer") != v {
			t.Errorf("change %d: LastMemVer %q CurMemVer %q, want %q %q", i, cb.Value("LastMemVer"), cb.Value("CurMemVer"), last, v)
		}
		last = v
	}
	for _, ch := range []func() (Callback, error){
		func() (Callback, error) { return c.RenameGroup("wrG", "新群名") },
		func() (Callback, error) { return c.ChangeGroupOwner("wrG", "lina") },
	} {
		must[Callback](t)(ch())
		if ver() != last {
			t.Error("member_version changed without a membership change")
		}
	}
	grp, _ := c.Snapshot().Group("wrG")
	m, ok := grp.Member(ext)
	if grp.Owner != "lina" || grp.Name != "新群名" || !ok || m.Type != MemberCustomer || m.JoinScene != JoinQRCode || m.Invitor != "" {
		t.Errorf("group %+v", grp)
	}
	if _, err := c.LeaveGroup("wrG", false, "lina"); !errors.Is(err, ErrState) {
		t.Errorf("owner leaving: %v, want ErrState", err)
	}

	// A departed owner's group: status 1, then 3 once handed over.
	if err := c.DepartStaff("lina"); err != nil {
		t.Fatal(err)
	}
	if g, _ := c.Snapshot().Group("wrG"); g.Status != GroupOwnerDeparted {
		t.Errorf("status %d, want 1", g.Status)
	}
	must[Callback](t)(c.ChangeGroupOwner("wrG", "zhangwei"))
	if g, _ := c.Snapshot().Group("wrG"); g.Status != GroupHandoverDone || g.Owner != "zhangwei" {
		t.Errorf("status %d owner %q, want 3 zhangwei", g.Status, g.Owner)
	}
	if _, err := c.AddExternalContact("lina", Customer{ExternalUserID: "wmX"}, Add{}); !errors.Is(err, ErrState) {
		t.Errorf("departed member adding: %v, want ErrState", err)
	}

	// A resigned handover: the departed member's customer goes to
	// zhangwei, who already follows them: no add, only the delete.
	if err := c.API().TransferCustomer("lina", "zhangwei", ext); err != nil {
		t.Fatal(err)
	}
	cbs := must[[]Callback](t)(c.TakeOver("lina", ext))
	if len(cbs) != 1 || cbs[0].Value("Source") != SourceDeleteByTransfer {
		t.Errorf("takeover by a follower: %v", cbs)
	}
	s = c.Snapshot()
	if f, _ := s.Follow("lina", ext); f.DeletedBy != DeletedByTransfer {
		t.Errorf("old relation %+v", f)
	}
	if len(s.Handovers) != 1 || s.Handovers[0].Status != HandoverCompleted {
		t.Errorf("handovers %+v", s.Handovers)
	}
	if _, err := c.TakeOver("lina", ext); !errors.Is(err, ErrState) {
		t.Errorf("second takeover: %v, want ErrState", err)
	}

	// Snapshot is a deep copy.
	s = c.Snapshot()
	s.Groups[0].Members[0].UserID = "changed"
	s.Follows[0].TagIDs = append(s.Follows[0].TagIDs[:0], "changed")
	if again := c.Snapshot(); again.Groups[0].Members[0].UserID == "changed" || slices.Contains(again.Follows[0].TagIDs, "changed") {
		t.Error("Snapshot shares memory with the corp")
	}
}

func TestActionErrors(t *testing.T) {
	c, _ := newCorp(t)
	must[Callback](t)(c.AddExternalContact("zhangwei", Customer{ExternalUserID: "wm1"}, Add{}))
	for name, err := range map[string]error{
		"unknown staff":     second(c.AddExternalContact("nobody", Customer{ExternalUserID: "wm1"}, Add{})),
		"already following": second(c.AddExternalContact("zhangwei", Customer{ExternalUserID: "wm1"}, Add{})),
		"long state":        second(c.AddExternalContact("lina", Customer{ExternalUserID: "wm2"}, Add{State: "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一"})),
		"no relation":       second(c.DelExternalContact("lina", "wm1")),
		"unknown group":     second(c.RenameGroup("wrNone", "x")),
		"bad fail reason":   second(c.FailTransfer("zhangwei", "wm1", "bored")),
		"no handover":       second(c.FailTransfer("zhangwei", "wm1", FailCustomerRefused)),
		"empty tag group":   third(c.CreateTagGroup("空", 1)),
		"mixed join scenes": second(c.JoinGroup("wrNone", Join{ID: "a", Customer: true, Scene: JoinQRCode}, Join{ID: "b", Customer: true})),
	} {
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrExists) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrState) {
			t.Errorf("%s: %v, want one of the sentinels", name, err)
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := (Options{CorpID: "", Token: "", EncodingAESKey: "short"}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad options: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// TestConcurrentActions: actions and snapshots from many goroutines leave a
// consistent state (run with -race to check the locking).
func TestConcurrentActions(t *testing.T) {
	c, _ := newCorp(t)
	must[Callback](t)(c.CreateGroup(NewGroup{ChatID: "wrG", Owner: "zhangwei"}))
	const n = 16
	vers := make(chan string, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			c.Snapshot()
		}
	}()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			ext := "wm" + strconv.Itoa(i)
			if _, err := c.AddExternalContact("lina", Customer{ExternalUserID: ext}, Add{}); err != nil {
				errs <- err
				return
			}
			cb, err := c.JoinGroup("wrG", Join{ID: ext, Customer: true, Scene: JoinQRCode})
			vers <- cb.Value("CurMemVer")
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-done
	close(vers)
	seen := map[string]bool{}
	for v := range vers {
		seen[v] = true
	}
	g, _ := c.Snapshot().Group("wrG")
	if len(g.Members) != n+1 || len(seen) != n || !seen[g.MemberVersion] {
		t.Errorf("%d members, %d distinct versions", len(g.Members), len(seen))
	}
}
