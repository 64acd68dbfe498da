package api_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/standin"
)

// TestTokenOnceUnderConcurrency: 100 calls right after the token expired
// fetch exactly one new token.
func TestTokenOnceUnderConcurrency(t *testing.T) {
	e := newEnv(t, "zhangwei")
	ctx := context.Background()
	c := e.client()
	_, err := c.FollowUsers(ctx)
	must(t, err)
	if n := e.srv.Calls(standin.APIGetToken); n != 1 {
		t.Fatalf("gettoken calls = %d, want 1", n)
	}
	e.clk.Add(standin.DefaultTokenTTL)      // expired for both sides
	e.srv.SetLatency(20 * time.Millisecond) // widen the window in which callers overlap

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := c.FollowUsers(ctx)
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := e.srv.Calls(standin.APIGetToken); got != 2 {
		t.Errorf("gettoken calls = %d, want 2 (one before expiry, one for all %d callers)", got, n)
	}
	if got := e.srv.Calls(standin.APIFollowUserList); got != n+1 {
		t.Errorf("get_follow_user_list calls = %d, want %d: a caller used the expired token", got, n+1)
	}
}

// TestTokenRefusedEarly: WeCom invalidates the token before expires_in
// (40014), or says it expired (42001): one refetch, then success; a
// token refused again fails with ErrTokenRejected after one refetch.
func TestTokenRefusedEarly(t *testing.T) {
	e := newEnv(t, "zhangwei")
	ctx := context.Background()
	c := e.client()
	_, err := c.FollowUsers(ctx)
	must(t, err)

	e.srv.InvalidateTokens()
	_, err = c.FollowUsers(ctx)
	must(t, err)
	if g, f := e.srv.Calls(standin.APIGetToken), e.srv.Calls(standin.APIFollowUserList); g != 2 || f != 3 {
		t.Errorf("after 40014: gettoken %d, calls %d; want 2 and 3", g, f)
	}

	e.srv.FailNext(standin.APIFollowUserList, 1, standin.CodeTokenExpired)
	_, err = c.FollowUsers(ctx)
	must(t, err)
	if g := e.srv.Calls(standin.APIGetToken); g != 3 {
		t.Errorf("after 42001: gettoken %d, want 3", g)
	}

	e.srv.FailNext(standin.APIFollowUserList, 2, standin.CodeInvalidToken)
	_, err = c.FollowUsers(ctx)
	var ae *api.Error
	if !errors.Is(err, api.ErrTokenRejected) || !errors.As(err, &ae) || ae.Code != standin.CodeInvalidToken {
		t.Errorf("token refused twice: %v, want ErrTokenRejected with errcode 40014", err)
	}
	if g := e.srv.Calls(standin.APIGetToken); g != 4 {
		t.Errorf("token refused twice: gettoken %d, want 4 (one refetch)", g)
	}
	if len(e.clk.Sleeps()) != 0 {
		t.Errorf("token refetches waited: %v", e.clk.Sleeps())
	}

	bad, err := api.New(corpID, "wrong-secret", e.options())
	must(t, err)
	if _, err := bad.FollowUsers(ctx); !errors.Is(err, api.ErrCredentials) || errors.Is(err, api.ErrTransient) {
		t.Errorf("wrong secret: %v, want ErrCredentials", err)
	}
}

// TestRetries: -1 and 45009 are retried with growing backoff, then
// succeed; too many fail as ErrTransient after MaxAttempts; a permanent
// errcode is not retried.
func TestRetries(t *testing.T) {
	for _, code := range []int{standin.CodeBusy, standin.CodeFrequencyLimit, standin.CodeConcurrencyLimit} {
		e := newEnv(t, "zhangwei")
		c := e.client()
		e.srv.FailNext(standin.APIFollowUserList, 3, code)
		_, err := c.FollowUsers(context.Background())
		must(t, err)
		sleeps := e.clk.Sleeps()
		if len(sleeps) != 3 || e.srv.Calls(standin.APIFollowUserList) != 4 {
			t.Fatalf("errcode %d: %d calls, sleeps %v; want 4 calls after 3 waits", code, e.srv.Calls(standin.APIFollowUserList), sleeps)
		}
		for i, d := range sleeps { // 250ms doubling, drawn from the upper half
			hi := 250 * time.Millisecond << i
			if d < hi/2 || d > hi {
				t.Errorf("errcode %d: wait %d = %v, want in [%v, %v]", code, i, d, hi/2, hi)
			}
		}
	}

	e := newEnv(t, "zhangwei")
	c := e.client()
	e.srv.FailNext(standin.APIFollowUserList, 10, standin.CodeBusy)
	_, err := c.FollowUsers(context.Background())
	var ae *api.Error
	if !errors.Is(err, api.ErrTransient) || !errors.As(err, &ae) || ae.Code != standin.CodeBusy {
		t.Errorf("always busy: %v, want ErrTransient errcode -1", err)
	}
	if n := e.srv.Calls(standin.APIFollowUserList); n != 4 {
		t.Errorf("always busy: %d calls, want MaxAttempts = 4", n)
	}

	// Bounded in time: a wait that would end after MaxElapsed is not
	// started.
	e = newEnv(t, "zhangwei")
	c = e.client(func(o *api.Options) {
		o.BackoffBase, o.BackoffMax, o.MaxElapsed = 4*time.Second, 8*time.Second, time.Second
	})
	e.srv.FailNext(standin.APIFollowUserList, 1, standin.CodeBusy)
	if _, err := c.FollowUsers(context.Background()); !errors.Is(err, api.ErrTransient) || e.srv.Calls(standin.APIFollowUserList) != 1 {
		t.Errorf("backoff beyond MaxElapsed: %v after %d calls, want ErrTransient after 1", err, e.srv.Calls(standin.APIFollowUserList))
	}

	e = newEnv(t, "zhangwei")
	c = e.client()
	_, _, err = c.Contact(context.Background(), "wmnobody")
	if !errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrTransient) || !errors.As(err, &ae) || ae.Code != standin.CodeInvalidExternal || ae.API != "externalcontact/get" {
		t.Errorf("unknown customer: %v, want *Error 40096 ErrNotFound", err)
	}
	if n := e.srv.Calls(standin.APIGetContact); n != 1 || len(e.clk.Sleeps()) != 0 {
		t.Errorf("permanent error: %d calls, waits %v; want 1 call, no wait", n, e.clk.Sleeps())
	}
}

// TestHTTPAndNetworkFailures: HTTP 5xx and dropped connections are
// retried; HTTP 4xx is not.
func TestHTTPAndNetworkFailures(t *testing.T) {
	e := newEnv(t, "zhangwei")
	c := e.client()
	ctx := context.Background()
	var mu sync.Mutex
	left := 2
	// A POST: Go's transport itself replays a GET on a dropped reused
	// connection.
	e.setFail(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 || r.URL.Path != "/cgi-bin/"+standin.APICorpTagList {
			return false
		}
		left--
		if left == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	})
	_, err := c.CorpTags(ctx, nil, nil)
	must(t, err)
	if n, calls := len(e.clk.Sleeps()), e.srv.Calls(standin.APICorpTagList); n != 2 || calls != 1 {
		t.Errorf("502 then a dropped connection: %d waits, %d calls reached the stand-in; want 2 and 1", n, calls)
	}

	e.setFail(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/cgi-bin/"+standin.APIGroupChatGet {
			w.WriteHeader(http.StatusForbidden)
			return true
		}
		return false
	})
	_, err = c.GroupChat(ctx, "wr1", false)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusForbidden || errors.Is(err, api.ErrTransient) {
		t.Errorf("HTTP 403: %v", err)
	}
}

// TestTransferRetriedOnlyWhenNothingHappened: transfer_customer is
// retried after 45009 but not after -1 (WeCom may have started it).
func TestTransferRetriedOnlyWhenNothingHappened(t *testing.T) {
	e := newEnv(t, "zhangwei", "lina")
	_, err := e.corp.AddExternalContact("zhangwei", standin.Customer{ExternalUserID: "wm1"}, standin.Add{})
	must(t, err)
	c := e.client()
	tr := api.Transfer{HandoverUserID: "zhangwei", TakeoverUserID: "lina", ExternalUserIDs: []string{"wm1"}}

	e.srv.FailNext(standin.APITransferCustomer, 1, standin.CodeBusy)
	if _, err := c.TransferCustomers(context.Background(), tr); !errors.Is(err, api.ErrTransient) || e.srv.Calls(standin.APITransferCustomer) != 1 {
		t.Errorf("-1: %v after %d calls; want ErrTransient after 1", err, e.srv.Calls(standin.APITransferCustomer))
	}
	e.srv.FailNext(standin.APITransferCustomer, 1, standin.CodeFrequencyLimit)
	out, err := c.TransferCustomers(context.Background(), tr)
	must(t, err)
	if out[0].Err() != nil || e.srv.Calls(standin.APITransferCustomer) != 3 {
		t.Errorf("45009 then success: %+v after %d calls", out, e.srv.Calls(standin.APITransferCustomer))
	}
}

// TestRateLimit: 300 calls under a budget of 120 a minute (burst 5) never
// put more than 125 in one minute of the stand-in's clock and take at
// least the time the budget implies; the stand-in, limiting at 130,
// never refuses one.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, "zhangwei")
	reg := prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	must(t, err)
	c := e.client(func(o *api.Options) { o.RatePerMinute, o.Burst, o.Metrics = 120, 5, m })
	e.srv.SetRateLimit(130)
	start := e.clk.Now()
	const n = 300
	for range n {
		_, err := c.FollowUsers(context.Background())
		must(t, err)
	}
	perMinute := e.srv.CallsPerMinute(standin.APIFollowUserList)
	total := 0
	for minute, calls := range perMinute {
		total += calls
		if calls > 125 {
			t.Errorf("%d calls in the minute from %v, want ≤ 125", calls, minute)
		}
	}
	if total != n {
		t.Errorf("%d calls counted, want %d (none refused, none retried)", total, n)
	}
	if elapsed, min := e.clk.Now().Sub(start), time.Duration(n-5)*time.Second/2; elapsed < min {
		t.Errorf("300 calls took %v of the clock, want ≥ %v", elapsed, min)
	}

	families, err := reg.Gather()
	must(t, err)
	var calls, waits float64
	for _, f := range families {
		for _, mm := range f.GetMetric() {
			switch f.GetName() {
			case "custody_wecom_api_calls_total":
				labels := map[string]string{}
				for _, l := range mm.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["api"] == standin.APIFollowUserList && labels["errcode"] == "0" {
					calls = mm.GetCounter().GetValue()
				}
			case "custody_wecom_api_rate_limit_wait_seconds":
				waits = mm.GetHistogram().GetSampleSum()
			}
		}
	}
	if calls != n || waits < 140 {
		t.Errorf("metrics: %v successful calls, %vs waited; want %d and ≥ 140s", calls, waits, n)
	}
	if _, err := api.NewMetrics(reg); err != nil {
		t.Errorf("registering twice: %v", err)
	}
}

// TestSecretsNeverInErrors collects the errors of every kind of failure
// and looks for the tokens the stand-in saw and the app secret in them.
func TestSecretsNeverInErrors(t *testing.T) {
	e := newEnv(t, "zhangwei")
	ctx := context.Background()
	c := e.client(func(o *api.Options) { o.MaxAttempts = 2 })
	var errs []error
	_, err := c.FollowUsers(ctx)
	must(t, err)
	_, _, err = c.Contact(ctx, "wmnobody")
	errs = append(errs, err)
	e.srv.FailNext("", 2, standin.CodeInvalidToken)
	_, err = c.FollowUsers(ctx)
	errs = append(errs, err)
	e.setFail(func(w http.ResponseWriter, r *http.Request) bool {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return true
	})
	_, err = c.FollowUsers(ctx)
	errs = append(errs, err)

	// A closed port: the transport's error names the URL, with the
	// secret (gettoken) in its query.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	dead, err := api.New(corpID, secret, api.Options{BaseURL: "http://" + addr, Now: e.clk.Now, Sleep: e.clk.Sleep, MaxAttempts: 1})
	must(t, err)
	_, err = dead.FollowUsers(ctx)
	errs = append(errs, err)
	if !errors.Is(err, api.ErrTransient) {
		t.Errorf("closed port: %v, want ErrTransient", err)
	}

	secrets := append(e.seenTokens(), secret)
	if len(secrets) < 3 {
		t.Fatalf("the stand-in saw %d tokens, want at least 2", len(secrets)-1)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a failure returned no error")
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q holds a secret", err)
			}
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := api.New("", "", api.Options{BaseURL: "ftp://x", MaxAttempts: -1, RatePerMinute: -1})
	for _, want := range []error{api.ErrInvalid, api.ErrNoSecret} {
		if !errors.Is(err, want) {
			t.Errorf("New: %v, want %v", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("New reported %d problems, want 5: %v", n, err)
	}
}
