package massreport_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/massreport"
	"github.com/custody/custody/adapters/driving/wecom/standin"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	wecomCorp = "wx5823bf96d3bd56c7"
	secret    = "s3cret-app-secret_0123456789abcdefghij"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *clock) Sleep(ctx context.Context, d time.Duration) error { c.Add(d); return ctx.Err() }

// TestWeComReportedMassMessagesAreRecordedOnce: WeCom (the stand-in,
// over its HTTP protocol) reports a mass message a member confirmed and a
// group mass message; the reporter records every recipient reached as
// reported by WeCom — those over the daily cap, without consent or
// unknown to custody flagged with the rule they broke — leaves out the
// recipients WeCom failed and the member who has not confirmed, does not
// count twice a recipient a tool recorded under the same msgid, records
// nothing when the same results are polled again, and records the second
// member once they confirm.
func TestWeComReportedMassMessagesAreRecordedOnce(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)} // 09:00 in Beijing
	e := newReportEnv(t, clk)
	log, cmds, wc, client := e.log, e.cmds, e.wc, e.client
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	meta := func() commands.Meta { return commands.Meta{CorpID: "acme", OccurredAt: clk.Now()} }

	// The same facts in custody (but wm5 and group wrA are unknown to it).
	for _, s := range []string{"zhangwei", "lina"} {
		if err := wc.AddStaff(s, ""); err != nil {
			t.Fatal(err)
		}
		must(cmds.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: s}))
	}
	follow := func(staff, cust string, inCustody bool) {
		t.Helper()
		must(wc.AddExternalContact(staff, standin.Customer{ExternalUserID: cust}, standin.Add{AddWay: 1}))
		if inCustody {
			must(cmds.StartRelation(ctx, commands.StartRelation{Meta: meta(), CustomerID: cust, StaffID: staff,
				Initiator: events.InitiatorCustomer, AddWay: 1}))
		}
	}
	for _, c := range []string{"wm1", "wm2", "wm3", "wm4", "wm6"} {
		follow("zhangwei", c, true)
	}
	follow("zhangwei", "wm5", false)
	follow("lina", "wm7", true)
	must(wc.CreateGroup(standin.NewGroup{ChatID: "wrA", Owner: "lina"}))
	must(cmds.ChangeCorpSettings(ctx, commands.ChangeCorpSettings{Meta: meta(), Changes: map[string]string{"mass_message_cap_day": "1"}}))
	must(cmds.RecordConsent(ctx, commands.RecordConsent{Meta: meta(), CustomerID: "wm3", Purpose: events.PurposeMarketing,
		State: events.ConsentDisagree}))
	// A tool sent wm4 another mass message today (its cap of 1 is used).
	must(cmds.RecordOutreach(ctx, commands.Outreach{Meta: meta(), MessageID: "tool-1", Channel: events.ChannelMassMessage,
		StaffID: "zhangwei", CustomerIDs: []string{"wm4"}}))

	// The corp creates the mass message (every member following one of the
	// customers gets a task) and a group mass message through lina.
	msg, _, err := wc.AddMsgTemplate(standin.ChatTypeSingle, "", []string{"wm1", "wm2", "wm3", "wm4", "wm5", "wm6", "wm7"}, "春季新品")
	if err != nil {
		t.Fatal(err)
	}
	group, _, err := wc.AddMsgTemplate(standin.ChatTypeGroup, "lina", []string{"wrA"}, "群公告")
	if err != nil {
		t.Fatal(err)
	}
	// A tool recorded wm2 under WeCom's msgid before the member confirmed.
	must(cmds.RecordOutreach(ctx, commands.Outreach{Meta: meta(), MessageID: msg, Channel: events.ChannelMassMessage,
		StaffID: "zhangwei", CustomerIDs: []string{"wm2"}}))
	clk.Add(time.Hour)
	must(wc.DelFollowUser("zhangwei", "wm6")) // WeCom fails wm6: not a friend any more
	if err := wc.ConfirmMassMessage(msg, "zhangwei"); err != nil {
		t.Fatal(err)
	}
	if err := wc.ConfirmMassMessage(group, "lina"); err != nil {
		t.Fatal(err)
	}
	sentAt := clk.Now()
	clk.Add(time.Minute)

	rp := massreport.Reporter{WeCom: client, Commands: cmds, CorpID: "acme", Now: clk.Now}
	from, to := sentAt.Add(-24*time.Hour), sentAt.Add(24*time.Hour)
	rep, err := rp.Report(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 2 || rep.Batches != 2 || rep.Reached != 6 || rep.New != 5 || rep.Flagged != 4 || rep.Replayed != 0 {
		t.Errorf("first poll %+v", rep)
	}
	ledger := func(stream string) []string {
		t.Helper()
		recs, err := log.ReadStream(ctx, stream, 0)
		if err != nil {
			t.Fatalf("%s: %v", stream, err)
		}
		var out []string
		for _, r := range recs {
			p, err := events.DecodeRecorded(r)
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := p.(*events.OutreachDelivered); ok {
				out = append(out, d.MessageID+" "+d.ReportedBy+" "+r.OccurredAt.UTC().Format(time.TimeOnly)+
					" ["+strings.Join(d.Violations, " ")+"]")
			}
		}
		return out
	}
	at := sentAt.UTC().Format(time.TimeOnly)
	for stream, want := range map[string][]string{
		events.OutreachCustomerStream("acme", "wm1"): {msg + " wecom " + at + " []"},
		events.OutreachCustomerStream("acme", "wm2"): {msg + " custody 01:00:00 []"},
		events.OutreachCustomerStream("acme", "wm3"): {msg + " wecom " + at + " [consent_withdrawn]"},
		events.OutreachCustomerStream("acme", "wm4"): {"tool-1 custody 01:00:00 []", msg + " wecom " + at + " [cap_day]"},
		events.OutreachCustomerStream("acme", "wm5"): {msg + " wecom " + at + " [no_relation]"},
		events.OutreachGroupStream("acme", "wrA"):    {group + " wecom " + at + " [group_unknown]"},
	} {
		if got := ledger(stream); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", stream, got, want)
		}
	}
	if recs, err := log.ReadStream(ctx, events.OutreachCustomerStream("acme", "wm6"), 0); err == nil && len(recs) > 0 {
		t.Errorf("wm6 (failed in WeCom) has a ledger: %d events", len(recs))
	}

	// The same results again: nothing new in the log.
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = rp.Report(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := log.Head(ctx); err != nil || again != head || rep.Replayed != 2 || rep.New != 0 {
		t.Errorf("second poll recorded something: head %v → %v, %+v", head, again, rep)
	}

	// lina confirms her part (wm7) later: recorded once, at her send time.
	clk.Add(time.Hour)
	if err := wc.ConfirmMassMessage(msg, "lina"); err != nil {
		t.Fatal(err)
	}
	linaAt := clk.Now().UTC().Format(time.TimeOnly)
	// The periodic job (looking back 7 days) finds it, twice.
	job := massreport.Job{Commands: cmds, Now: clk.Now,
		Corps:   func(context.Context) ([]string, error) { return []string{"acme"}, nil },
		Clients: func(context.Context, string) (massreport.WeCom, error) { return client, nil }}
	for i := range 2 {
		if err := job.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if head, err = log.Head(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if again, err := log.Head(ctx); err != nil || again != head {
		t.Errorf("the job's second poll recorded something: head %v → %v (%v)", head, again, err)
	}
	if got := ledger(events.OutreachCustomerStream("acme", "wm7")); !slices.Equal(got, []string{msg + " wecom " + linaAt + " []"}) {
		t.Errorf("wm7: %v", got)
	}
}

// TestInstancesTakeTurnsPolling: two instances (each its own pool and
// connection store on one database) run the periodic job with turns: in
// a period WeCom is polled by one of them only, as often as by a single
// instance; in the next period once again; an instance whose poll fails
// gives its turn back, and the other polls at its next tick.
func TestInstancesTakeTurnsPolling(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)}
	e := newReportEnv(t, clk)
	pool, cmds, wc, srv, client := e.pool, e.cmds, e.wc, e.srv, e.client
	if err := wc.AddStaff("zhangwei", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cmds.JoinStaff(ctx, commands.JoinStaff{Meta: commands.Meta{CorpID: "acme", OccurredAt: clk.Now()}, StaffID: "zhangwei"}); err != nil {
		t.Fatal(err)
	}
	if _, err := wc.AddExternalContact("zhangwei", standin.Customer{ExternalUserID: "wm1"}, standin.Add{AddWay: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wc.AddMsgTemplate(standin.ChatTypeSingle, "", []string{"wm1"}, "春季新品"); err != nil {
		t.Fatal(err)
	}

	other, err := pgxpool.New(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	const every = time.Hour
	failing := atomic.Bool{}
	job := func(p *pgxpool.Pool, fails bool) massreport.Job {
		return massreport.Job{Commands: cmds, Now: clk.Now, Every: every,
			Turn:  connection.NewStore(p, nil).Turns("mass report", every),
			Corps: func(context.Context) ([]string, error) { return []string{"acme"}, nil },
			Clients: func(context.Context, string) (massreport.WeCom, error) {
				if fails && failing.Load() {
					return nil, errors.New("no client")
				}
				return client, nil
			}}
	}
	instances := []massreport.Job{job(pool, true), job(other, false)}

	// What one poll asks of WeCom, by a job without turns.
	alone := instances[1]
	alone.Turn = nil
	if err := alone.Once(ctx); err != nil {
		t.Fatal(err)
	}
	perPoll := srv.Calls(standin.APIGroupMsgListV2)
	if perPoll == 0 {
		t.Fatal("a poll did not ask WeCom for the messages")
	}
	round := func(name string, want int) {
		t.Helper()
		before := srv.Calls(standin.APIGroupMsgListV2)
		var wg sync.WaitGroup
		for _, j := range instances {
			wg.Add(1)
			go func() { defer wg.Done(); _ = j.Once(ctx) }()
		}
		wg.Wait()
		if got := srv.Calls(standin.APIGroupMsgListV2) - before; got != want*perPoll {
			t.Errorf("%s: %d calls of %s, want %d (%d polls)", name, got, standin.APIGroupMsgListV2, want*perPoll, want)
		}
	}
	round("first period", 1)
	clk.Add(30 * time.Minute)
	round("half a period later", 0)
	clk.Add(30 * time.Minute)
	round("next period", 1)

	// Next period: the first instance takes the turn and fails; the
	// second, ticking after it, polls.
	clk.Add(every)
	failing.Store(true)
	if err := instances[0].Once(ctx); err == nil {
		t.Fatal("the failing instance's poll did not fail")
	}
	before := srv.Calls(standin.APIGroupMsgListV2)
	if err := instances[1].Once(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls(standin.APIGroupMsgListV2) - before; got != perPoll {
		t.Errorf("after a failed poll gave its turn back: %d calls, want %d", got, perPoll)
	}
}

// reportEnv is custody (log, commands deciding on the log's settings) on
// a fresh database, and a WeCom corp (the stand-in) served over HTTP with
// an API client of it.
type reportEnv struct {
	pool   *pgxpool.Pool
	log    *pgstore.Store
	cmds   *commands.Handler
	wc     *standin.Corp
	srv    *standin.APIServer
	client *api.Client
}

func newReportEnv(t *testing.T, clk *clock) *reportEnv {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{pgstore.Migrate, pii.Migrate, connection.Migrate} {
		if err := m(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	keyring := pii.NewMemoryKeyring()
	log, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: keyring, Clock: commands.ClockFunc(clk.Now),
		Settings: &commands.LogSettings{Log: log}})
	if err != nil {
		t.Fatal(err)
	}
	wc, err := standin.New(standin.Options{CorpID: wecomCorp, Token: "QDG6eK",
		EncodingAESKey: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := standin.NewAPIServer(standin.APIOptions{Now: clk.Now})
	srv.AddCorp(wc, secret)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	client, err := api.New(wecomCorp, secret, api.Options{BaseURL: hs.URL, Now: clk.Now, Sleep: clk.Sleep, RatePerMinute: 1_000_000,
		Burst: 1_000, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &reportEnv{pool: pool, log: log, cmds: cmds, wc: wc, srv: srv, client: client}
}
