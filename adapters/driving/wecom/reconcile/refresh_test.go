package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/reconcile"
	"github.com/custody/custody/adapters/driving/wecom/standin"
)

// TestRefreshRecordsContactDetails: add_external_contact and
// edit_external_contact carry no remark, description or tags; the
// translator marks the contact for a fetch, and the refresh worker fetches
// it (externalcontact/get) and records WeCom's details on the relation,
// with WeCom's text normalised for custody ("\r\n" → "\n", other control
// characters dropped). A second drain records nothing.
func TestRefreshRecordsContactDetails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	corp, err := standin.New(standin.Options{CorpID: dayCorpID, Token: dayToken, EncodingAESKey: dayAESKey})
	if err != nil {
		t.Fatal(err)
	}
	e.wecom.AddCorp(corp, daySecret)
	if err := corp.AddStaff("zhangwei", "张伟"); err != nil {
		t.Fatal(err)
	}
	g, tagCB, err := corp.CreateTagGroup("客户等级", 1, "VIP", "普通")
	if err != nil {
		t.Fatal(err)
	}
	var cbs []standin.Callback
	cbs = append(cbs, tagCB)
	for _, ext := range []string{"wmCustomerA001", "wmCustomerB002"} {
		cb, err := corp.AddExternalContact("zhangwei", standin.Customer{ExternalUserID: ext, Name: "王静"}, standin.Add{State: "expo2026", AddWay: 1})
		if err != nil {
			t.Fatal(err)
		}
		cbs = append(cbs, cb)
	}
	remark, desc := "老客户\r\n介绍\x07", "line one\rline two\x00"
	cb, err := corp.EditExternalContact("zhangwei", "wmCustomerA001", standin.Edit{Remark: &remark, Description: &desc, AddTags: []string{g.Tags[0].ID}})
	if err != nil {
		t.Fatal(err)
	}
	cbs = append(cbs, cb)
	em, err := standin.NewEmitter(standin.EmitterOptions{URL: e.recvURL, Corp: "acme", Crypto: corp.Crypto()})
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range cbs {
		if _, err := em.Send(ctx, cb); err != nil {
			t.Fatal(err)
		}
	}
	// Translate without details: the contacts are marked for a fetch.
	e.translate()
	marks, err := e.ib.Refreshes(ctx, "acme", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) < 2 {
		t.Fatalf("%d marks after two adds and an edit, want the contacts marked", len(marks))
	}
	if s := custodyState(t, e); len(s.relations) != 2 || s.relations[0] != `wmCustomerA001/zhangwei remark="" description="" tags=[]` {
		t.Fatalf("before the refresh: %v", s.relations)
	}
	w := reconcile.RefreshWorker{Reconciler: e.rec, Marks: e.ib, Corps: func(context.Context) ([]string, error) { return []string{"acme"}, nil },
		CatchUp: func(ctx context.Context) error { _, err := e.runner.CatchUp(ctx); return err }}
	n, err := w.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(marks) {
		t.Errorf("fetched %d of %d marks", n, len(marks))
	}
	// The projector reads only events no open transaction can precede any
	// more: catch up until the refresh's events are projected (polling a
	// condition, bounded).
	want := `wmCustomerA001/zhangwei remark="老客户\n介绍" description="line one\nline two" tags=[` + g.Tags[0].ID + `]`
	var s state
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		e.catchUp()
		s = custodyState(t, e)
		if len(s.relations) == 2 && s.relations[0] == want || time.Now().After(deadline) {
			break
		}
	}
	if len(s.relations) != 2 || s.relations[0] != want {
		t.Errorf("after the refresh:\n got %v\nwant %s", s.relations, want)
	}
	if left, _ := e.ib.Refreshes(ctx, "acme", 100); len(left) != 0 {
		t.Errorf("%d marks left after the drain", len(left))
	}
	if e.wecom.Calls(standin.APIGetContact) == 0 {
		t.Error("no externalcontact/get call")
	}
	// Marked again (another edit callback) with nothing new in WeCom:
	// nothing is recorded.
	head := e.head()
	if err := e.ib.MarkRefresh(ctx, inbox.Refresh{CorpID: "acme", Kind: inbox.RefreshContact, Subject: "wmCustomerA001", StaffID: "zhangwei", Reason: "edited"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if e.head() != head {
		t.Error("a refresh of an unchanged contact recorded events")
	}
}
