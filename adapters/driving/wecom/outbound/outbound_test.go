package outbound_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/ingest"
	"github.com/custody/custody/adapters/driving/wecom/outbound"
	"github.com/custody/custody/adapters/driving/wecom/receiver"
	"github.com/custody/custody/adapters/driving/wecom/reconcile"
	"github.com/custody/custody/adapters/driving/wecom/standin"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	corpID = "wwoutbound01"
	token  = "OutToken1"
	aesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	secret = "OutSecret"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestHandoversCarriedOutInWeCom: handovers requested in custody for a
// corp connected with an app secret are carried out by WeCom (the
// stand-in): one the customer refuses, one that completes after 24 hours,
// one whose new owner is at WeCom's customer limit. custody's settle job
// completes none of them by its own clock; the transfer_result poll
// records each outcome as WeCom has it; WeCom's callbacks afterwards —
// transfer_fail delivered twice, the add and DELETE_BY_TRANSFER delete of
// the completed one — record nothing more; and a handover custody's own
// rules refuse costs no call to WeCom.
func TestHandoversCarriedOutInWeCom(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{pgstore.Migrate, projections.Migrate, inbox.Migrate, connection.Migrate, pii.Migrate, outbound.Migrate} {
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
		// One in-service handover per customer in 90 days, so that a second
		// request is refused by custody.
		Base: commands.SettingsMap{"acme": corp.Settings{InServiceHandoverLimit: 1}},
		InWeCom: func(ctx context.Context, c string) (bool, error) {
			conn, err := conns.Get(ctx, c)
			return err == nil && conn.Secret != "", nil
		},
	}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: keyring, Settings: settings, Clock: commands.ClockFunc(clk.Now)})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := projections.NewRunner(pool, log, projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	catchUp := func() {
		t.Helper()
		if _, err := runner.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	head := func() events.Position {
		t.Helper()
		p, err := log.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// WeCom: three members, three customers of zhangwei.
	wc, err := standin.New(standin.Options{CorpID: corpID, Token: token, EncodingAESKey: aesKey, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"zhangwei", "lina", "wangfang"} {
		if err := wc.AddStaff(s, ""); err != nil {
			t.Fatal(err)
		}
	}
	custs := []string{"wmRefuses0001", "wmTakenOver002", "wmLimited00003"}
	for _, c := range custs {
		if _, err := wc.AddExternalContact("zhangwei", standin.Customer{ExternalUserID: c}, standin.Add{AddWay: 1}); err != nil {
			t.Fatal(err)
		}
	}
	wecom := standin.NewAPIServer(standin.APIOptions{})
	wecom.AddCorp(wc, secret)
	apiSrv := httptest.NewServer(wecom)
	defer apiSrv.Close()
	clients := api.NewClients(conns, api.Options{BaseURL: apiSrv.URL})

	// custody learns the corp from WeCom (a reconcile from empty).
	rec, err := reconcile.New(reconcile.Options{Commands: cmds, View: reconcile.Projected{Pool: pool, Log: log},
		Clients: func(ctx context.Context, c string) (reconcile.WeCom, error) { return clients.Client(ctx, c) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Corp(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	catchUp()

	request := func(from, to string, customers ...string) commands.HandoverBatch {
		t.Helper()
		b, err := cmds.RequestHandover(ctx, commands.RequestHandover{Meta: commands.Meta{CorpID: "acme", Actor: "admin:test"},
			Kind: events.HandoverInService, FromStaffID: from, ToStaffID: to, CustomerIDs: customers})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1 := request("zhangwei", "lina", custs[0], custs[1])
	b2 := request("zhangwei", "wangfang", custs[2])
	for _, o := range append(b1.Outcomes, b2.Outcomes...) {
		if o.Status != "pending" {
			t.Fatalf("handover of %s: %s (%v), want pending", o.CustomerID, o.Status, o.Err)
		}
	}
	catchUp()
	w := outbound.Worker{Commands: cmds, Pool: pool, Now: clk.Now,
		Clients: func(ctx context.Context, c string) (outbound.WeCom, error) { return clients.Client(ctx, c) },
		Corps:   func(context.Context) ([]string, error) { return []string{"acme"}, nil }}
	rd, err := w.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Asked != 3 || rd.Started != 3 || wecom.Calls(standin.APITransferCustomer) != 2 {
		t.Fatalf("round %+v, %d transfer_customer calls: want 3 started in 2 calls", rd, wecom.Calls(standin.APITransferCustomer))
	}
	for _, h := range wc.Snapshot().Handovers {
		if h.Status != standin.HandoverWaiting {
			t.Fatalf("WeCom handover of %s: status %d, want waiting", h.ExternalUserID, h.Status)
		}
	}
	// Polling while WeCom waits records nothing, and asks nothing again.
	h0 := head()
	if _, err := w.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if head() != h0 || wecom.Calls(standin.APITransferCustomer) != 2 {
		t.Fatal("a poll of waiting handovers recorded something or asked again")
	}

	// In WeCom: the first customer refuses; 25 hours pass and the second
	// is taken over; the third's new owner is at WeCom's limit.
	var cbs []standin.Callback
	cb, err := wc.FailTransfer("zhangwei", custs[0], standin.FailCustomerRefused)
	if err != nil {
		t.Fatal(err)
	}
	cbs = append(cbs, cb, cb) // transfer_fail, twice
	clk.add(25 * time.Hour)
	more, err := wc.TakeOver("zhangwei", custs[1])
	if err != nil {
		t.Fatal(err)
	}
	cbs = append(cbs, more...)
	cb, err = wc.FailTransfer("zhangwei", custs[2], standin.FailCustomerLimitExceed)
	if err != nil {
		t.Fatal(err)
	}
	cbs = append(cbs, cb)

	// custody's settle job, past every deadline, leaves them to WeCom.
	rep, err := cmds.SettleDue(ctx, "acme", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 0 || head() != h0 {
		t.Fatalf("the settle job settled %d handovers of a corp whose handovers WeCom carries out", len(rep.Outcomes))
	}

	if rd, err = w.Once(ctx); err != nil {
		t.Fatal(err)
	}
	catchUp()
	want := map[string]string{
		b1.Outcomes[0].HandoverID: "refused", b1.Outcomes[1].HandoverID: "completed", b2.Outcomes[0].HandoverID: "failed target_at_capacity",
	}
	wecomWant := map[string]standin.HandoverStatus{custs[0]: standin.HandoverRefused, custs[1]: standin.HandoverCompleted, custs[2]: standin.HandoverLimitExceeded}
	for _, h := range wc.Snapshot().Handovers {
		if h.Status != wecomWant[h.ExternalUserID] {
			t.Errorf("WeCom's status of %s: %d, want %d", h.ExternalUserID, h.Status, wecomWant[h.ExternalUserID])
		}
	}
	check := func(when string) {
		t.Helper()
		for id, st := range want {
			var got string
			if err := pool.QueryRow(ctx, `SELECT status || coalesce(' ' || failure_reason, '') FROM projections.handovers WHERE corp_id = 'acme' AND handover_id = $1`, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != st {
				t.Errorf("%s: handover %s is %q in custody, WeCom says %q", when, id, got, st)
			}
		}
		var owner string
		if err := pool.QueryRow(ctx, `SELECT string_agg(staff_id, ',') FROM projections.relations WHERE corp_id = 'acme' AND customer_id = $1 AND status = 'active'`, custs[1]).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		if owner != "lina" {
			t.Errorf("%s: the customer taken over is followed by %q, want lina", when, owner)
		}
	}
	check("after the poll")

	// WeCom's callbacks arrive afterwards; they say nothing new.
	ib := inbox.New(pool)
	recv, err := receiver.New(receiver.Options{Connections: conns, Inbox: ib})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	em, err := standin.NewEmitter(standin.EmitterOptions{URL: srv.URL, Corp: "acme", Crypto: wc.Crypto(), Habits: standin.Habits{Reseal: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range cbs {
		if _, err := em.Send(ctx, cb); err != nil {
			t.Fatal(err)
		}
	}
	h1 := head()
	tr := ingest.New(cmds, log, ib)
	if _, err := ib.Drain(ctx, 100, tr.Translate); err != nil {
		t.Fatal(err)
	}
	if head() != h1 {
		recs, _ := log.ReadAll(ctx, h1, 10)
		for _, r := range recs {
			t.Logf("recorded after the poll: %s", r.Type)
		}
		t.Error("WeCom's callbacks after the poll recorded events")
	}
	catchUp()
	check("after the callbacks")

	// custody's own rule refuses a second handover of the customer within
	// 90 days: no call to WeCom.
	calls := wecom.Calls(standin.APITransferCustomer)
	b3 := request("lina", "wangfang", custs[1])
	if b3.Outcomes[0].Status != commands.OutcomeRejected {
		t.Fatalf("second handover in 90 days: %s, want rejected", b3.Outcomes[0].Status)
	}
	catchUp()
	if _, err := w.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if wecom.Calls(standin.APITransferCustomer) != calls {
		t.Error("a handover custody refused was sent to WeCom")
	}
}
