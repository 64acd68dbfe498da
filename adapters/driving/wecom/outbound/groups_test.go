package outbound_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/outbound"
	"github.com/custody/custody/adapters/driving/wecom/standin"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// TestGroupTransfersCarriedOutInWeCom: for a corp connected with an app
// secret, custody's in-service and resigned group-owner changes are made
// in WeCom (the stand-in) and recorded only then; WeCom's refusals (a
// group dismissed in WeCom, a new owner who left in WeCom) record nothing
// and answer WeCom's errcode; custody's own 90-day rule refuses without a
// call; after an unclear answer the retry looks at groupchat/get and does
// not hand the group over twice; a corp without a secret keeps the local
// behaviour.
func TestGroupTransfersCarriedOutInWeCom(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{pgstore.Migrate, connection.Migrate, pii.Migrate, outbound.Migrate} {
		if err := m(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	keyring := pii.NewMemoryKeyring()
	log, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	conns := connection.NewStore(pool, keyring)
	if _, err := conns.Connect(ctx, connection.Connection{CorpID: "acme", WeComCorpID: corpID,
		Current: connection.Key{Token: token, EncodingAESKey: aesKey}, Secret: secret}, 0); err != nil {
		t.Fatal(err)
	}
	settings := &outbound.Settings{
		Base: commands.SettingsMap{"acme": corp.Settings{}, "local": corp.Settings{}},
		InWeCom: func(ctx context.Context, c string) (bool, error) {
			conn, err := conns.Get(ctx, c)
			return err == nil && conn.Secret != "", nil
		},
	}

	wc, err := standin.New(standin.Options{CorpID: corpID, Token: token, EncodingAESKey: aesKey, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	wecom := standin.NewAPIServer(standin.APIOptions{})
	wecom.AddCorp(wc, secret)
	apiSrv := httptest.NewServer(wecom)
	defer apiSrv.Close()
	clients := api.NewClients(conns, api.Options{BaseURL: apiSrv.URL})
	groups := &outbound.GroupTransfers{Pool: pool,
		Clients: func(ctx context.Context, c string) (outbound.GroupWeCom, error) { return clients.Client(ctx, c) }}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: keyring, Settings: settings, Clock: commands.ClockFunc(clk.Now),
		GroupTransfers: groups})
	if err != nil {
		t.Fatal(err)
	}

	// The same members and groups in WeCom and in custody.
	m := func(c string) commands.Meta { return commands.Meta{CorpID: c, Actor: "admin:ops"} }
	for _, s := range []string{"zhangwei", "lina", "wangfang", "gone"} {
		if err := wc.AddStaff(s, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := cmds.JoinStaff(ctx, commands.JoinStaff{Meta: m("acme"), StaffID: s, Name: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"wrA", "wrB", "wrC", "wrD"} {
		if _, err := wc.CreateGroup(standin.NewGroup{ChatID: id, Owner: "zhangwei"}); err != nil {
			t.Fatal(err)
		}
		if _, err := cmds.CreateGroupChat(ctx, commands.CreateGroupChat{Meta: m("acme"), ChatID: id, OwnerID: "zhangwei"}); err != nil {
			t.Fatal(err)
		}
	}
	transfer := func(c, chat, to, reason string) error {
		_, err := cmds.TransferGroupChat(ctx, commands.TransferGroupChat{Meta: m(c), ChatID: chat, ToStaffID: to, Reason: reason})
		return err
	}
	owner := func(c, chat string) string { // custody's
		t.Helper()
		recs, err := log.ReadStream(ctx, events.GroupChatStream(c, chat), 0)
		if err != nil {
			t.Fatal(err)
		}
		g, err := groupchat.Rehydrate(chat, recs)
		if err != nil {
			t.Fatal(err)
		}
		return g.Owner()
	}
	inWeCom := func(chat string) standin.Group {
		t.Helper()
		g, ok := wc.Snapshot().Group(chat)
		if !ok {
			t.Fatalf("no group %s in WeCom", chat)
		}
		return g
	}
	calls := func() (onjob, resigned, get int) {
		return wecom.Calls(standin.APIGroupOnJobTransfer), wecom.Calls(standin.APIGroupTransfer), wecom.Calls(standin.APIGroupChatGet)
	}

	// In service, twice: made in WeCom, then recorded.
	if err := transfer("acme", "wrA", "lina", events.OwnerChangeInService); err != nil {
		t.Fatal(err)
	}
	if got := inWeCom("wrA").Owner; got != "lina" || owner("acme", "wrA") != "lina" {
		t.Fatalf("wrA: WeCom owner %q, custody owner %q; want lina", got, owner("acme", "wrA"))
	}
	if err := transfer("acme", "wrA", "zhangwei", events.OwnerChangeInService); err != nil {
		t.Fatal(err)
	}
	// custody's own rule (2 per 90 days) refuses without asking WeCom.
	before, _, _ := calls()
	if err := transfer("acme", "wrA", "wangfang", events.OwnerChangeInService); !errors.Is(err, groupchat.ErrTransferLimitReached) {
		t.Fatalf("third in-service transfer: %v", err)
	}
	if onjob, _, _ := calls(); onjob != before || before != 2 {
		t.Fatalf("onjob_transfer called %d times, then %d; want 2 and no more", before, onjob)
	}
	if inWeCom("wrA").Owner != "zhangwei" || owner("acme", "wrA") != "zhangwei" {
		t.Fatal("wrA changed owner after a refusal")
	}

	// WeCom refuses: the group was dismissed there (custody does not know
	// yet), or the new owner left there. Nothing recorded; WeCom's errcode
	// answered.
	if _, err := wc.DismissGroup("wrB"); err != nil {
		t.Fatal(err)
	}
	var ref *commands.WeComRefusal
	err = transfer("acme", "wrB", "lina", events.OwnerChangeInService)
	if !errors.As(err, &ref) || ref.Code != standin.CodeInvalidChatID || !errors.Is(err, commands.ErrRefusedByWeCom) {
		t.Fatalf("transfer of a group dismissed in WeCom: %v", err)
	}
	if got := owner("acme", "wrB"); got != "zhangwei" {
		t.Fatalf("wrB recorded with owner %q after WeCom's refusal", got)
	}
	if err := wc.DepartStaff("gone"); err != nil {
		t.Fatal(err)
	}
	err = transfer("acme", "wrC", "gone", events.OwnerChangeInService)
	if !errors.As(err, &ref) || ref.Code != standin.CodeInvalidUserID {
		t.Fatalf("transfer to a member who left WeCom: %v", err)
	}
	if got := owner("acme", "wrC"); got != "zhangwei" {
		t.Fatalf("wrC recorded with owner %q after WeCom's refusal", got)
	}

	// Resigned: the owner departed in both; groupchat/transfer, and the
	// group's status becomes 3 (handover done).
	if err := wc.DepartStaff("zhangwei"); err != nil {
		t.Fatal(err)
	}
	if _, err := cmds.DepartStaff(ctx, commands.DepartStaff{Meta: m("acme"), StaffID: "zhangwei"}); err != nil {
		t.Fatal(err)
	}
	if err := transfer("acme", "wrC", "lina", events.OwnerChangeResigned); err != nil {
		t.Fatal(err)
	}
	if g := inWeCom("wrC"); g.Owner != "lina" || g.Status != standin.GroupHandoverDone || owner("acme", "wrC") != "lina" {
		t.Fatalf("wrC: WeCom owner %q status %d, custody owner %q", g.Owner, g.Status, owner("acme", "wrC"))
	}

	// An unclear answer (-1): nothing recorded. The group was in fact
	// handed over (as if the answer had been lost), so the retry finds
	// lina the owner with groupchat/get and records it without a second
	// groupchat/transfer.
	wecom.FailNext(standin.APIGroupTransfer, 1, standin.CodeBusy)
	if err := transfer("acme", "wrD", "lina", events.OwnerChangeResigned); !errors.Is(err, commands.ErrWeComUnavailable) {
		t.Fatalf("unclear answer: %v", err)
	}
	if got := owner("acme", "wrD"); got != "zhangwei" {
		t.Fatalf("wrD recorded with owner %q after an unclear answer", got)
	}
	if err := wc.API().TransferGroup("wrD", "lina", true); err != nil {
		t.Fatal(err)
	}
	_, resignedBefore, getBefore := calls()
	if err := transfer("acme", "wrD", "lina", events.OwnerChangeResigned); err != nil {
		t.Fatal(err)
	}
	if _, resigned, get := calls(); resigned != resignedBefore || get != getBefore+1 {
		t.Fatalf("retry: groupchat/transfer %d→%d, groupchat/get %d→%d; want no transfer and one get",
			resignedBefore, resigned, getBefore, get)
	}
	if got := owner("acme", "wrD"); got != "lina" {
		t.Fatalf("wrD custody owner %q after the retry, want lina", got)
	}

	// A corp without an app secret: recorded locally, WeCom never asked.
	onjob, resigned, get := calls()
	for _, s := range []string{"a", "b"} {
		if _, err := cmds.JoinStaff(ctx, commands.JoinStaff{Meta: m("local"), StaffID: s, Name: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cmds.CreateGroupChat(ctx, commands.CreateGroupChat{Meta: m("local"), ChatID: "g1", OwnerID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := transfer("local", "g1", "b", events.OwnerChangeInService); err != nil {
		t.Fatal(err)
	}
	if owner("local", "g1") != "b" {
		t.Fatal("local transfer not recorded")
	}
	if o, r, g := calls(); o != onjob || r != resigned || g != get {
		t.Fatal("a corp without a secret asked WeCom")
	}
}
