package reconcile_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/reconcile"
	"github.com/custody/custody/adapters/driving/wecom/standin"
	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/commands"
)

// BenchmarkReconcileRateBound reconciles a stand-in corp with 1,000 staff
// and 100,000 customers (100 each) whose custody side already agrees, with
// the API client limited to 2,400 calls a minute (burst 40). The client's
// clock is injected: the rate limiter's waits advance a virtual clock
// instead of sleeping, so the virtual duration is exactly the time the
// rate limit imposes, while the calls themselves go over HTTP to the
// stand-in. It reports the calls, the busiest virtual minute (must stay
// within the rate plus the burst), the virtual duration and its ratio to
// the bound (calls − burst) / rate, and the wall time (the stand-in's
// answers and the comparison).
//
//	go test -run '^$' -bench ReconcileRateBound -benchtime 1x ./adapters/driving/wecom/reconcile/
func BenchmarkReconcileRateBound(b *testing.B) {
	staffN := benchStaff
	const (
		perStaff  = 100
		ratePerMi = 2400
		burst     = 40
	)
	corp, err := standin.New(standin.Options{CorpID: dayCorpID, Token: dayToken, EncodingAESKey: dayAESKey})
	if err != nil {
		b.Fatal(err)
	}
	for s := range staffN {
		uid := fmt.Sprintf("staff%04d", s)
		if err := corp.AddStaff(uid, ""); err != nil {
			b.Fatal(err)
		}
		for c := range perStaff {
			ext := fmt.Sprintf("wm%04d%03d", s, c)
			if _, err := corp.AddExternalContact(uid, standin.Customer{ExternalUserID: ext}, standin.Add{AddWay: 1}); err != nil {
				b.Fatal(err)
			}
		}
	}
	srv := standin.NewAPIServer(standin.APIOptions{})
	srv.AddCorp(corp, daySecret)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	view := newAgreeingView(corp.Snapshot())

	for i := 0; i < b.N; i++ {
		vc := &virtualClock{t: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
		rec := &recorder{clock: vc, next: http.DefaultTransport}
		cl, err := api.New(dayCorpID, daySecret, api.Options{BaseURL: hs.URL, RatePerMinute: ratePerMi, Burst: burst,
			HTTPClient: &http.Client{Transport: rec}, Now: vc.Now, Sleep: vc.Sleep})
		if err != nil {
			b.Fatal(err)
		}
		log := memlog.New()
		cmds, err := commands.New(commands.Options{Log: log, Eraser: pii.NewMemoryKeyring(), Settings: commands.DefaultSettings{}})
		if err != nil {
			b.Fatal(err)
		}
		r, err := reconcile.New(reconcile.Options{Commands: cmds, View: view,
			Clients: func(context.Context, string) (reconcile.WeCom, error) { return cl, nil }})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		rep, err := r.Corp(context.Background(), "acme")
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		if rep.Total() != 0 || rep.WeComPairs != staffN*perStaff {
			b.Fatalf("report %+v: want %d relations and nothing to correct", rep, staffN*perStaff)
		}
		calls, busiest, span := rec.stats()
		bound := time.Duration(float64(calls-1-burst) / ratePerMi * float64(time.Minute))
		if busiest > ratePerMi+burst {
			b.Fatalf("%d calls in one virtual minute, over the rate %d + burst %d", busiest, ratePerMi, burst)
		}
		b.ReportMetric(float64(calls), "calls")
		b.ReportMetric(float64(busiest), "max-calls/min")
		b.ReportMetric(span.Seconds(), "virtual-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(span.Seconds()/bound.Seconds(), "ratio")
		b.ReportMetric(wall.Seconds(), "wall-s")
	}
}

// virtualClock advances only when slept on.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

// recorder notes the virtual time of every API request (gettoken aside).
type recorder struct {
	clock *virtualClock
	next  http.RoundTripper
	mu    sync.Mutex
	at    []time.Time
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/cgi-bin/gettoken" {
		r.mu.Lock()
		r.at = append(r.at, r.clock.Now())
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

// stats: calls, the most calls in any 60-second window, first to last.
func (r *recorder) stats() (int, int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := append([]time.Time(nil), r.at...)
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	busiest, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= time.Minute {
			j++
		}
		busiest = max(busiest, i-j+1)
	}
	if len(at) == 0 {
		return 0, 0, 0
	}
	return len(at), busiest, at[len(at)-1].Sub(at[0])
}

// agreeingView is custody's side equal to WeCom's state s.
type agreeingView struct {
	staff map[string]bool
	rels  []reconcile.Relation
}

func newAgreeingView(s standin.State) agreeingView {
	v := agreeingView{staff: map[string]bool{}}
	for _, m := range s.Staff {
		v.staff[m.UserID] = true
	}
	for _, f := range s.Follows {
		if !f.Deleted {
			v.rels = append(v.rels, reconcile.Relation{CustomerID: f.ExternalUserID, StaffID: f.UserID, Active: true,
				Remark: f.Remark, Description: f.Description, Tags: f.TagIDs})
		}
	}
	return v
}

func (v agreeingView) Staff(context.Context, string) (map[string]bool, error) { return v.staff, nil }
func (v agreeingView) Relations(context.Context, string, []string) ([]reconcile.Relation, error) {
	return v.rels, nil
}
func (v agreeingView) PendingHandovers(context.Context, string) ([]reconcile.PendingHandover, error) {
	return nil, nil
}
func (v agreeingView) Groups(context.Context, string, []string) ([]reconcile.Group, error) {
	return nil, nil
}
func (v agreeingView) Tags(context.Context, string) ([]reconcile.Tag, error) { return nil, nil }

// benchStaff is the number of staff members of BenchmarkReconcileRateBound.
var benchStaff = envInt("BENCH_STAFF", 1000)

func envInt(k string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(k), &n); err != nil || n <= 0 {
		return def
	}
	return n
}
