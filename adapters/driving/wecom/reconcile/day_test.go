package reconcile_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/ingest"
	"github.com/custody/custody/adapters/driving/wecom/receiver"
	"github.com/custody/custody/adapters/driving/wecom/reconcile"
	"github.com/custody/custody/adapters/driving/wecom/standin"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
)

const (
	dayCorpID = "wwreconcile01"
	dayToken  = "RecToken1"
	dayAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	daySecret = "RecSecret"
)

// env is custody wired to a stand-in corp: log, commands, receiver,
// inbox, translator, projections, reconciler.
type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	log     *pgstore.Store
	cmds    *commands.Handler
	ib      *inbox.Inbox
	conns   *connection.Store
	runner  *projections.Runner
	recvURL string
	wecom   *standin.APIServer
	apiURL  string
	rec     *reconcile.Reconciler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{pgstore.Migrate, projections.Migrate, inbox.Migrate, connection.Migrate, pii.Migrate} {
		if err := m(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	keyring := pii.NewMemoryKeyring()
	log, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: keyring, Settings: commands.DefaultSettings{}})
	if err != nil {
		t.Fatal(err)
	}
	conns := connection.NewStore(pool, keyring)
	if _, err := conns.Connect(ctx, connection.Connection{CorpID: "acme", WeComCorpID: dayCorpID,
		Current: connection.Key{Token: dayToken, EncodingAESKey: dayAESKey}, Secret: daySecret}, 0); err != nil {
		t.Fatal(err)
	}
	ib := inbox.New(pool)
	recv, err := receiver.New(receiver.Options{Connections: conns, Inbox: ib})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	wecom := standin.NewAPIServer(standin.APIOptions{})
	apiSrv := httptest.NewServer(wecom)
	t.Cleanup(apiSrv.Close)
	runner, err := projections.NewRunner(pool, log, projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clients := api.NewClients(conns, api.Options{BaseURL: apiSrv.URL, RatePerMinute: 60000, Burst: 1000})
	rec, err := reconcile.New(reconcile.Options{
		Commands: cmds, View: reconcile.Projected{Pool: pool, Log: log},
		Clients: func(ctx context.Context, corp string) (reconcile.WeCom, error) { return clients.Client(ctx, corp) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, pool: pool, log: log, cmds: cmds, ib: ib, conns: conns, runner: runner, recvURL: srv.URL,
		wecom: wecom, apiURL: apiSrv.URL, rec: rec}
}

// translate drains the inbox with the translator (details through the
// API) and catches the projections up.
func (e *env) translate() {
	e.t.Helper()
	ctx := context.Background()
	clients := api.NewClients(e.conns, api.Options{BaseURL: e.apiURL})
	tr := ingest.New(e.cmds, e.log, e.ib).WithDetails(api.Details{Clients: clients.Client})
	for {
		d, err := e.ib.Drain(ctx, 1000, tr.Translate)
		if err != nil {
			e.t.Fatal(err)
		}
		if d.Done+d.Unknown+d.Rejected == 0 {
			break
		}
	}
	e.catchUp()
}

func (e *env) catchUp() {
	e.t.Helper()
	if _, err := e.runner.CatchUp(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) reconcile() reconcile.Report {
	e.t.Helper()
	rep, err := e.rec.Corp(context.Background(), "acme")
	if err != nil {
		e.t.Fatal(err)
	}
	e.catchUp()
	return rep
}

func (e *env) head() events.Position {
	e.t.Helper()
	p, err := e.log.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestReconcileAfterALossyDayEqualsWeCom plays a WeCom day whose callbacks
// WeCom loses (5%), duplicates (5%) and delivers partly out of order, with
// changes made through WeCom's API that send no callback at all (remarks
// and tags edited, handovers started); custody's projections then differ
// from WeCom. One reconcile makes them equal — every active relation with
// its remark, description and tags, every group with owner, name, notice
// and members, every tag — and a second reconcile records nothing.
func TestReconcileAfterALossyDayEqualsWeCom(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	corp, cbs, err := standin.Day(standin.DayOptions{Corp: standin.Options{CorpID: dayCorpID, Token: dayToken, EncodingAESKey: dayAESKey},
		Seed: 20261207, Events: 400})
	if err != nil {
		t.Fatal(err)
	}
	e.wecom.AddCorp(corp, daySecret)
	em, err := standin.NewEmitter(standin.EmitterOptions{URL: e.recvURL, Corp: "acme", Crypto: corp.Crypto(),
		Habits: standin.Habits{Lose: 0.05, Duplicate: 0.05, Concurrent: 0.5, Reseal: 0.5, Quirk: 0.2},
		Rand:   rand.New(rand.NewPCG(7, 7))})
	if err != nil {
		t.Fatal(err)
	}
	// Reorder: about one callback in ten swaps places with the next.
	rnd := rand.New(rand.NewPCG(11, 11))
	swapped := 0
	for i := 0; i+1 < len(cbs); i++ {
		if rnd.Float64() < 0.1 {
			cbs[i], cbs[i+1] = cbs[i+1], cbs[i]
			swapped++
			i++
		}
	}
	for _, cb := range cbs {
		if _, err := em.Send(ctx, cb); err != nil {
			t.Fatal(err)
		}
	}
	stats := em.Stats()
	if stats.Lost == 0 || stats.Duplicated == 0 || swapped == 0 {
		t.Fatalf("delivery stats %+v, %d swapped: want losses, duplicates and reordering", stats, swapped)
	}
	e.translate()
	want := wecomState(corp.Snapshot())
	before := custodyState(t, e)
	if reflect.DeepEqual(before, want) {
		t.Fatal("custody already equals WeCom before the reconcile: the day lost nothing that matters, the test proves nothing")
	}

	rep := e.reconcile()
	if rep.Total() == 0 {
		t.Fatalf("first reconcile recorded nothing: %+v", rep)
	}
	got := custodyState(t, e)
	compareStates(t, got, want)

	// Relations that disappeared end as reconciled, with actor wecom.
	var reconciledEnds int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM projections.relations WHERE corp_id = 'acme' AND end_reason = 'reconciled'`).Scan(&reconciledEnds); err != nil {
		t.Fatal(err)
	}
	if reconciledEnds != rep.Corrections["relation_ended"] {
		t.Errorf("%d relations ended as reconciled, report says %d", reconciledEnds, rep.Corrections["relation_ended"])
	}

	head := e.head()
	rep2 := e.reconcile()
	if rep2.Total() != 0 || e.head() != head {
		t.Errorf("second reconcile recorded %d corrections (%v), log head %v → %v; want nothing", rep2.Total(), rep2.Corrections, head, e.head())
	}
	t.Logf("day: %d callbacks, %+v, %d swapped; first reconcile: %v (deferred %d, refused %v) in %s",
		len(cbs), stats, swapped, rep.Corrections, rep.Deferred, rep.Refused, rep.Duration)
}

// TestReconcileOnboardsFromEmpty: a corp with history in WeCom and none in
// custody is brought in by one reconcile, with WeCom's add times as the
// relations' business times; the next reconcile records nothing.
func TestReconcileOnboardsFromEmpty(t *testing.T) {
	e := newEnv(t)
	corp, _, err := standin.Day(standin.DayOptions{Corp: standin.Options{CorpID: dayCorpID, Token: dayToken, EncodingAESKey: dayAESKey},
		Seed: 42, Events: 200})
	if err != nil {
		t.Fatal(err)
	}
	e.wecom.AddCorp(corp, daySecret)
	rep := e.reconcile()
	want := wecomState(corp.Snapshot())
	compareStates(t, custodyState(t, e), want)
	if rep.Corrections["relation_started"] != len(want.relations) {
		t.Errorf("started %d relations, WeCom has %d", rep.Corrections["relation_started"], len(want.relations))
	}
	// Business time = WeCom's createtime.
	snap := corp.Snapshot()
	for _, f := range snap.Follows {
		if f.Deleted {
			continue
		}
		var started string
		err := e.pool.QueryRow(context.Background(), `SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM projections.relations
			WHERE corp_id = 'acme' AND customer_id = $1 AND staff_id = $2`, f.ExternalUserID, f.UserID).Scan(&started)
		if err != nil {
			t.Fatal(err)
		}
		if w := f.CreateTime.UTC().Format("2006-01-02 15:04:05"); started != w {
			t.Errorf("relation started at %s, WeCom's createtime is %s", started, w)
		}
		break
	}
	head := e.head()
	if rep2 := e.reconcile(); rep2.Total() != 0 || e.head() != head {
		t.Errorf("second reconcile recorded %v", rep2.Corrections)
	}
}

// state is what the comparison covers, as sorted lines.
type state struct {
	relations, groups, members, tags []string
}

func wecomState(s standin.State) state {
	var out state
	for _, f := range s.Follows {
		if !f.Deleted {
			tags := append([]string(nil), f.TagIDs...)
			sort.Strings(tags)
			out.relations = append(out.relations, fmt.Sprintf("%s/%s remark=%q description=%q tags=%v",
				f.ExternalUserID, f.UserID, f.Remark, f.Description, tags))
		}
	}
	for _, g := range s.Groups {
		if g.Dismissed {
			continue
		}
		out.groups = append(out.groups, fmt.Sprintf("%s owner=%s name=%s notice=%s", g.ChatID, g.Owner, g.Name, g.Notice))
		for _, m := range g.Members {
			typ := "staff"
			if m.Type == standin.MemberCustomer {
				typ = "customer"
			}
			out.members = append(out.members, g.ChatID+"/"+m.UserID+" "+typ)
		}
	}
	for _, g := range s.TagGroups {
		if g.Deleted {
			continue
		}
		out.tags = append(out.tags, g.ID+" "+g.Name)
		for _, tg := range g.Tags {
			if !tg.Deleted {
				out.tags = append(out.tags, tg.ID+" "+tg.Name+" in "+g.ID)
			}
		}
	}
	for _, l := range [][]string{out.relations, out.groups, out.members, out.tags} {
		sort.Strings(l)
	}
	return out
}

func custodyState(t *testing.T, e *env) state {
	t.Helper()
	var out state
	rows, err := e.pool.Query(context.Background(), `SELECT customer_id, staff_id, remark, description, tags FROM projections.relations
		WHERE corp_id = 'acme' AND status = 'active'`)
	if err != nil {
		t.Fatal(err)
	}
	var cust, staffID, remark, desc string
	var tags []string
	if _, err := pgx.ForEachRow(rows, []any{&cust, &staffID, &remark, &desc, &tags}, func() error {
		tg := append([]string(nil), tags...)
		sort.Strings(tg)
		out.relations = append(out.relations, fmt.Sprintf("%s/%s remark=%q description=%q tags=%v", cust, staffID, remark, desc, tg))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out.groups = queryStrings(t, e.pool, `SELECT chat_id || ' owner=' || owner_id || ' name=' || name || ' notice=' || notice
		FROM projections.group_chats WHERE corp_id = 'acme' AND status <> 'dismissed'`)
	out.members = queryStrings(t, e.pool, `SELECT m.chat_id || '/' || m.member_id || ' ' || m.member_type FROM projections.group_members m
		JOIN projections.group_chats g USING (corp_id, chat_id) WHERE m.corp_id = 'acme' AND g.status <> 'dismissed'`)
	tags2, err := reconcile.Projected{Pool: e.pool, Log: e.log}.Tags(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags2 {
		if tg.Kind == events.TagKindGroup {
			out.tags = append(out.tags, tg.ID+" "+tg.Name)
		} else {
			out.tags = append(out.tags, tg.ID+" "+tg.Name+" in "+tg.GroupID)
		}
	}
	for _, l := range [][]string{out.relations, out.groups, out.members, out.tags} {
		sort.Strings(l)
	}
	return out
}

func compareStates(t *testing.T, got, want state) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want []string
	}{{"relations", got.relations, want.relations}, {"groups", got.groups, want.groups},
		{"group members", got.members, want.members}, {"tags", got.tags, want.tags}} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s differ (%d in custody, %d in WeCom):\n%s", c.name, len(c.got), len(c.want), diff(c.got, c.want))
		}
	}
}

func diff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var b strings.Builder
	for _, s := range got {
		if !w[s] {
			fmt.Fprintf(&b, "  only in custody: %s\n", s)
		}
	}
	for _, s := range want {
		if !g[s] {
			fmt.Fprintf(&b, "  only in WeCom:   %s\n", s)
		}
	}
	return b.String()
}

func queryStrings(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql+" ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReconcileJobsTakeTurns: the periodic reconcile of two instances
// (each its own pool and connection store on one database), ticking
// together, reconciles the corp once; ticking again within the period,
// not at all.
func TestReconcileJobsTakeTurns(t *testing.T) {
	e := newEnv(t)
	corp, _, err := standin.Day(standin.DayOptions{Corp: standin.Options{CorpID: dayCorpID, Token: dayToken, EncodingAESKey: dayAESKey},
		Seed: 7, Events: 40})
	if err != nil {
		t.Fatal(err)
	}
	e.wecom.AddCorp(corp, daySecret)
	other, err := pgxpool.New(context.Background(), e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	var jobs []reconcile.Job
	for _, p := range []*pgxpool.Pool{e.pool, other} {
		jobs = append(jobs, reconcile.Job{Reconciler: e.rec, Pool: p, Every: time.Hour,
			Turn:  connection.NewStore(p, nil).Turns("reconcile", time.Hour),
			Corps: func(context.Context) ([]string, error) { return []string{"acme"}, nil }})
	}
	tick := func() int {
		var (
			wg sync.WaitGroup
			n  atomic.Int32
		)
		for _, j := range jobs {
			wg.Add(1)
			go func() { defer wg.Done(); n.Add(int32(len(j.Once(context.Background())))) }()
		}
		wg.Wait()
		return int(n.Load())
	}
	if n := tick(); n != 1 {
		t.Errorf("first tick: the corp was reconciled %d times, want once", n)
	}
	if n := tick(); n != 0 {
		t.Errorf("second tick within the period: reconciled %d times, want none", n)
	}
}
