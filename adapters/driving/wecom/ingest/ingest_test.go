package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/ingest"
	"github.com/custody/custody/adapters/driving/wecom/payload"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// base is the business time of the test's callbacks.
var base = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)

type env struct {
	pool  *pgxpool.Pool
	log   *pgstore.Store
	cmds  *commands.Handler
	inbox *inbox.Inbox
	tr    *ingest.Translator
	n     int
}

func newEnv(t *testing.T, details ingest.Details) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := inbox.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	log, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: pii.NewMemoryKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: pii.NewMemoryKeyring(), Settings: commands.DefaultSettings{},
		Clock: commands.ClockFunc(func() time.Time { return base.Add(time.Hour) })})
	if err != nil {
		t.Fatal(err)
	}
	ib := inbox.New(pool)
	tr := ingest.New(cmds, log, ib)
	if details != nil {
		tr = tr.WithDetails(details)
	}
	return &env{pool: pool, log: log, cmds: cmds, inbox: ib, tr: tr}
}

// callback builds a decrypted callback as WeCom sends it.
func (e *env) callback(fields ...string) []byte {
	e.n++
	var b strings.Builder
	fmt.Fprintf(&b, "<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType>",
		base.Add(time.Duration(e.n)*time.Minute).Unix())
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "MemChangeList" {
			b.WriteString("<MemChangeList>")
			for _, m := range strings.Split(fields[i+1], ",") {
				fmt.Fprintf(&b, "<Item><![CDATA[%s]]></Item>", m)
			}
			b.WriteString("</MemChangeList>")
			continue
		}
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", fields[i], fields[i+1], fields[i])
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// deliver stores a callback (as the receiver does) and drains the inbox.
func (e *env) deliver(t *testing.T, plain []byte) inbox.Drained {
	t.Helper()
	cb := inbox.Callback{CorpID: "acme", DedupKey: fmt.Sprintf("unreadable-%d", e.n), Kind: "unreadable", Payload: plain}
	if ev, err := payload.Parse(plain); err == nil { // the receiver keeps unreadable ones too
		cb.DedupKey, cb.Kind = ev.DedupKey(), ev.Kind()
		if at, ok := ev.Time(); ok {
			cb.CreateTime = at
		}
	}
	if _, err := e.inbox.Store(context.Background(), cb); err != nil {
		t.Fatal(err)
	}
	d, err := e.inbox.Drain(context.Background(), 100, e.tr.Translate)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// recorded returns "type:field=value,..." for the events after pos that
// are not slot bookkeeping, with the new position. Every one must have
// been recorded by WeCom's translation.
func (e *env) recorded(t *testing.T, after events.Position) ([]string, events.Position) {
	t.Helper()
	return e.read(t, after, true)
}

func (e *env) read(t *testing.T, after events.Position, fromWeCom bool) ([]string, events.Position) {
	t.Helper()
	e.settle(t)
	recs, err := e.log.ReadAll(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		after = r.Position
		if strings.HasPrefix(r.Type, "staff.slot_") {
			continue
		}
		if fromWeCom && r.Actor != "wecom" {
			t.Errorf("%s recorded with actor %q, want wecom", r.Type, r.Actor)
		}
		p, err := events.DecodeRecorded(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, describe(r.Type, p))
	}
	return out, after
}

// settle waits until the log's readers see every committed event: they
// read below the oldest transaction still running on the server, which a
// transaction elsewhere (another test package's, a NOTIFY in flight) can
// hold back for a moment.
func (e *env) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var want events.Position
		var id int64
		err := e.pool.QueryRow(ctx, `SELECT tx_id, id FROM events ORDER BY tx_id DESC, id DESC LIMIT 1`).Scan(&want.Commit, &id)
		if errors.Is(err, pgx.ErrNoRows) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want.Prepare = uint64(id)
		head, err := e.log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head == want || time.Now().After(deadline) {
			return
		}
	}
}

func describe(typ string, p events.Payload) string {
	switch e := p.(type) {
	case *events.StaffJoined:
		return typ + ":" + e.StaffID
	case *events.CustomerRelationStarted:
		return fmt.Sprintf("%s:%s/%s initiator=%s state=%s", typ, e.CustomerID, e.StaffID, e.Initiator, e.State)
	case *events.CustomerRelationEnded:
		return fmt.Sprintf("%s:%s/%s %s", typ, e.CustomerID, e.StaffID, e.Reason)
	case *events.HandoverRefused:
		return typ + ":" + e.CustomerID
	case *events.HandoverFailed:
		return typ + ":" + e.CustomerID + " " + e.Reason
	case *events.WeComFactUnmatched:
		return fmt.Sprintf("%s:%s %s c=%s s=%s chat=%s m=%v", typ, e.Kind, e.Reason, e.CustomerID, e.StaffID, e.ChatID, e.MemberIDs)
	case *events.GroupChatCreated:
		return fmt.Sprintf("%s:%s owner=%s name=%s", typ, e.ChatID, e.OwnerID, e.Name)
	case *events.GroupChatMemberJoined:
		return fmt.Sprintf("%s:%s %s(%s) %s", typ, e.ChatID, e.MemberID, e.MemberType, e.JoinScene)
	case *events.GroupChatMemberLeft:
		return fmt.Sprintf("%s:%s %s %s", typ, e.ChatID, e.MemberID, e.QuitScene)
	case *events.GroupChatOwnerChanged:
		return fmt.Sprintf("%s:%s %s->%s %s", typ, e.ChatID, e.FromStaffID, e.ToStaffID, e.Reason)
	case *events.GroupChatRenamed:
		return typ + ":" + e.ChatID + " " + e.Name
	case *events.GroupChatNoticeChanged:
		return typ + ":" + e.ChatID + " " + e.Notice
	case *events.GroupChatDismissed:
		return typ + ":" + e.ChatID
	case *events.TagCreated:
		return typ + ":" + e.TagID + " " + e.Kind
	case *events.TagDeleted:
		return typ + ":" + e.TagID + " " + e.Kind
	case *events.TagsReordered:
		return typ + ":" + e.TagID + " " + e.Kind
	}
	return typ
}

const contact = "change_external_contact"

// TestTranslateContactCallbacks: one table row per ChangeType, in a
// sequence that builds on the state earlier rows left.
func TestTranslateContactCallbacks(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var pos events.Position
	steps := []struct {
		name   string
		fields []string
		want   []string
	}{
		{"add with a channel code", []string{"Event", contact, "ChangeType", "add_external_contact", "UserID", "zhangsan", "ExternalUserID", "wmC1", "State", "expo", "WelcomeCode", "W1"},
			[]string{"staff.joined:zhangsan", "customer.relation_started:wmC1/zhangsan initiator=customer state=expo"}},
		{"add without State (member added the customer)", []string{"Event", contact, "ChangeType", "add_external_contact", "UserID", "zhangsan", "ExternalUserID", "wmC2"},
			[]string{"customer.relation_started:wmC2/zhangsan initiator=staff state="}},
		{"half add", []string{"Event", contact, "ChangeType", "add_half_external_contact", "UserID", "lisi", "ExternalUserID", "wmC3", "State", "ad"},
			[]string{"staff.joined:lisi", "customer.relation_started:wmC3/lisi initiator=customer state=ad"}},
		{"edit: detail refresh only", []string{"Event", contact, "ChangeType", "edit_external_contact", "UserID", "zhangsan", "ExternalUserID", "wmC1"}, nil},
		{"staff deletes the customer", []string{"Event", contact, "ChangeType", "del_external_contact", "UserID", "zhangsan", "ExternalUserID", "wmC2"},
			[]string{"customer.relation_ended:wmC2/zhangsan deleted_by_staff"}},
		{"customer deletes the staff member, State present", []string{"Event", contact, "ChangeType", "del_follow_user", "UserID", "lisi", "ExternalUserID", "wmC3", "State", "ad"},
			[]string{"customer.relation_ended:wmC3/lisi deleted_by_customer"}},
		{"delete of an unknown relation is kept", []string{"Event", contact, "ChangeType", "del_follow_user", "UserID", "lisi", "ExternalUserID", "wmNOPE"},
			[]string{"wecom.fact_unmatched:change_external_contact/del_follow_user relation_not_active c=wmNOPE s=lisi chat= m=[]"}},
		{"transfer_fail without a pending handover", []string{"Event", contact, "ChangeType", "transfer_fail", "UserID", "lisi", "ExternalUserID", "wmC1", "FailReason", "customer_refused"},
			[]string{"wecom.fact_unmatched:change_external_contact/transfer_fail handover_not_found c=wmC1 s=lisi chat= m=[]"}},
	}
	for _, s := range steps {
		d := e.deliver(t, e.callback(s.fields...))
		if d.Done != 1 {
			t.Fatalf("%s: drained %+v", s.name, d)
		}
		var got []string
		got, pos = e.recorded(t, pos)
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s:\n got %q\nwant %q", s.name, got, s.want)
		}
	}
	refreshes, err := e.inbox.Refreshes(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	var marked []string
	for _, r := range refreshes {
		marked = append(marked, r.Kind+":"+r.Subject+"/"+r.StaffID)
	}
	sort.Strings(marked)
	if want := []string{"contact:wmC1/zhangsan", "contact:wmC2/zhangsan", "contact:wmC3/lisi"}; !reflect.DeepEqual(marked, want) {
		t.Errorf("refreshes %v, want %v", marked, want)
	}

	// transfer_fail with pending handovers: UserID names the NEW owner.
	for _, id := range []string{"wmC1", "wmC4"} {
		e.deliver(t, e.callback("Event", contact, "ChangeType", "add_external_contact", "UserID", "zhangsan", "ExternalUserID", id))
	}
	batch, err := e.cmds.RequestHandover(ctx, commands.RequestHandover{Meta: commands.Meta{CorpID: "acme", OccurredAt: base.Add(30 * time.Minute)},
		Kind: events.HandoverInService, FromStaffID: "zhangsan", ToStaffID: "lisi", CustomerIDs: []string{"wmC1", "wmC4"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range batch.Outcomes {
		if o.Status != "pending" {
			t.Fatalf("handover %+v", o)
		}
	}
	_, pos = e.read(t, pos, false)
	e.deliver(t, e.callback("Event", contact, "ChangeType", "transfer_fail", "UserID", "lisi", "ExternalUserID", "wmC1", "FailReason", "customer_refused"))
	e.deliver(t, e.callback("Event", contact, "ChangeType", "transfer_fail", "UserID", "lisi", "ExternalUserID", "wmC4", "FailReason", "customer_limit_exceed"))
	// DELETE_BY_TRANSFER for a relation without a pending handover: a
	// handover done outside custody.
	e.deliver(t, e.callback("Event", contact, "ChangeType", "del_external_contact", "UserID", "zhangsan", "ExternalUserID", "wmC1", "Source", "DELETE_BY_TRANSFER"))
	got, _ := e.recorded(t, pos)
	want := []string{"handover.refused:wmC1", "handover.failed:wmC4 target_at_capacity",
		"customer.relation_ended:wmC1/zhangsan handed_over_in_wecom"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("handover callbacks:\n got %q\nwant %q", got, want)
	}
}

// fakeDetails answers groupchat/get from a map. It stands in for WeCom's
// API, which the WeCom API client (a later part of the connector) calls.
type fakeDetails map[string]ingest.Chat

func (f fakeDetails) Chat(_ context.Context, _, id string) (ingest.Chat, error) {
	c, ok := f[id]
	if !ok {
		return ingest.Chat{}, fmt.Errorf("no chat %s", id)
	}
	return c, nil
}

const chat = "change_external_chat"

func TestTranslateChatAndTagCallbacks(t *testing.T) {
	details := fakeDetails{"wrG1": {OwnerID: "zhangsan", Name: "VIP 群", Members: []ingest.Member{{ID: "zhangsan", Type: events.MemberStaff, JoinScene: events.JoinInvited}}}}
	e := newEnv(t, details)
	var pos events.Position
	steps := []struct {
		name   string
		before func()
		fields []string
		want   []string
	}{
		{"create fetches owner, name and members", nil, []string{"Event", chat, "ChangeType", "create", "ChatId", "wrG1"},
			[]string{"groupchat.created:wrG1 owner=zhangsan name=VIP 群", "groupchat.member_joined:wrG1 zhangsan(staff) invited"}},
		{"members join by QR code", nil, []string{"Event", chat, "ChangeType", "update", "UpdateDetail", "add_member", "ChatId", "wrG1", "JoinScene", "3", "MemChangeCnt", "2", "MemChangeList", "wmA,lisi"},
			[]string{"groupchat.member_joined:wrG1 wmA(customer) qrcode", "groupchat.member_joined:wrG1 lisi(staff) qrcode"}},
		{"a member joining twice is kept as unmatched", nil, []string{"Event", chat, "ChangeType", "update", "UpdateDetail", "add_member", "ChatId", "wrG1", "JoinScene", "0", "MemChangeList", "wmA"},
			[]string{"wecom.fact_unmatched:change_external_chat/update/add_member member c= s= chat=wrG1 m=[wmA]"}},
		{"removed", nil, []string{"Event", chat, "ChangeType", "update", "UpdateDetail", "del_member", "ChatId", "wrG1", "QuitScene", "1", "MemChangeList", "wmA"},
			[]string{"groupchat.member_left:wrG1 wmA removed"}},
		{"renamed", func() { details["wrG1"] = ingest.Chat{OwnerID: "zhangsan", Name: "VIP 群 2026"} },
			[]string{"Event", chat, "ChangeType", "update", "UpdateDetail", "change_name", "ChatId", "wrG1"},
			[]string{"groupchat.renamed:wrG1 VIP 群 2026"}},
		{"owner changed", func() { details["wrG1"] = ingest.Chat{OwnerID: "lisi", Name: "VIP 群 2026"} },
			[]string{"Event", chat, "ChangeType", "update", "UpdateDetail", "change_owner", "ChatId", "wrG1"},
			[]string{"groupchat.owner_changed:wrG1 zhangsan->lisi wecom"}},
		{"unknown chat", nil, []string{"Event", chat, "ChangeType", "update", "UpdateDetail", "add_member", "ChatId", "wrNOPE", "MemChangeList", "wmB"},
			[]string{"wecom.fact_unmatched:change_external_chat/update/add_member chat_not_created c= s= chat=wrNOPE m=[wmB]"}},
		{"dismissed", nil, []string{"Event", chat, "ChangeType", "dismiss", "ChatId", "wrG1"}, []string{"groupchat.dismissed:wrG1"}},
		{"tag created", nil, []string{"Event", "change_external_tag", "ChangeType", "create", "Id", "etT1", "TagType", "tag"}, []string{"tag.created:etT1 tag"}},
		{"tag updated: name to fetch", nil, []string{"Event", "change_external_tag", "ChangeType", "update", "Id", "etT1", "TagType", "tag"}, nil},
		{"tag group shuffled", nil, []string{"Event", "change_external_tag", "ChangeType", "shuffle", "Id", "etG1", "TagType", "tag_group"}, []string{"tag.reordered:etG1 tag_group"}},
		{"tag deleted, TagType missing", nil, []string{"Event", "change_external_tag", "ChangeType", "delete", "Id", "etT1"}, []string{"tag.deleted:etT1 tag"}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		d := e.deliver(t, e.callback(s.fields...))
		if d.Done != 1 {
			t.Fatalf("%s: drained %+v", s.name, d)
		}
		var got []string
		got, pos = e.recorded(t, pos)
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s:\n got %q\nwant %q", s.name, got, s.want)
		}
	}
}

// TestUnknownAndBadCallbacksAreKept: unknown kinds are stored as unknown,
// callbacks whose values custody refuses are kept as rejected with the
// reason; neither records events nor stops the drain.
func TestUnknownAndBadCallbacksAreKept(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.deliver(t, e.callback("Event", "change_external_contact", "ChangeType", "something_new", "UserID", "x"))
	e.deliver(t, e.callback("Event", contact, "ChangeType", "add_external_contact", "UserID", "zhangsan"))                                   // no ExternalUserID
	e.deliver(t, e.callback("Event", contact, "ChangeType", "add_external_contact", "UserID", "zhang\x01san", "ExternalUserID", "wmX"))      // control character
	e.deliver(t, e.callback("Event", contact, "ChangeType", "del_follow_user", "UserID", strings.Repeat("u", 129), "ExternalUserID", "wmX")) // over-long id
	counts, err := e.inbox.Counts(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if counts[inbox.StatusUnknown] != 1 || counts[inbox.StatusRejected] != 3 || counts[inbox.StatusPending] != 0 {
		t.Fatalf("counts %v", counts)
	}
	rejected, _ := e.inbox.List(ctx, "acme", inbox.StatusRejected, 0, 10)
	for _, it := range rejected {
		if it.LastError == "" {
			t.Errorf("rejected %s without a reason", it.Kind)
		}
		t.Logf("rejected %s: %s", it.Kind, it.LastError)
	}
	if got, _ := e.recorded(t, events.Position{}); len(got) != 0 {
		t.Fatalf("refused callbacks recorded %q", got)
	}
}

// TestRetriedCallbacksRecordOnce: the same callback delivered three times
// at once (and translated again after a crash) records one set of events.
func TestRetriedCallbacksRecordOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	plain := e.callback("Event", contact, "ChangeType", "add_external_contact", "UserID", "zhangsan", "ExternalUserID", "wmR", "State", "s")
	ev, _ := payload.Parse(plain)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.inbox.Store(ctx, inbox.Callback{CorpID: "acme", DedupKey: ev.DedupKey(), Kind: ev.Kind(), Payload: plain}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := e.inbox.Drain(ctx, 10, e.tr.Translate); err != nil {
		t.Fatal(err)
	}
	// A crash before the outcome was recorded translates it again.
	items, _ := e.inbox.List(ctx, "acme", inbox.StatusDone, 0, 10)
	if len(items) != 1 {
		t.Fatalf("done items %d", len(items))
	}
	if out, err := e.tr.Translate(ctx, items[0]); err != nil || out.Status != inbox.StatusDone {
		t.Fatalf("translate again: %+v %v", out, err)
	}
	got, _ := e.recorded(t, events.Position{})
	want := []string{"staff.joined:zhangsan", "customer.relation_started:wmR/zhangsan initiator=customer state=s"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestDocExample runs the example of docs/wecom.md as written.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../../../docs/wecom.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```xml\n(.*?)\n```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/wecom.md has no xml example")
	}
	e := newEnv(t, nil)
	if d := e.deliver(t, m[1]); d.Done != 1 {
		t.Fatalf("drained %+v", d)
	}
	got, _ := e.recorded(t, events.Position{})
	want := []string{"staff.joined:zhangsan", "customer.relation_started:woAJ2GCAAAXtWyujaWJHDDGi0mAAAA/zhangsan initiator=customer state=teststate"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("doc example recorded %q, want %q", got, want)
	}
}
