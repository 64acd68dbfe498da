package standin

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/payload"
)

func addCallback(t *testing.T, c *Corp, ext string) Callback {
	t.Helper()
	return must[Callback](t)(c.AddExternalContact("zhangwei", Customer{ExternalUserID: ext, Name: "陈静"}, Add{State: "expo2026", AddWay: 1}))
}

// TestRetryAfterSlowAnswer: the first delivery is not answered within the
// timeout (the receiver holds it until the emitter drops the connection),
// so WeCom delivers again, re-sealed, and stops at the 200.
func TestRetryAfterSlowAnswer(t *testing.T) {
	c, _ := newCorp(t)
	rc := newReceiver(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	dropped := make(chan struct{})
	rc.answer = func(n int, r *http.Request) int {
		if n == 1 {
			select {
			case <-r.Context().Done(): // the emitter gave up on this delivery
				close(dropped)
			case <-release:
			}
		}
		return http.StatusOK
	}
	e := newEmitter(t, c, rc, Habits{}, func(o *EmitterOptions) { o.Timeout = 50 * time.Millisecond })
	d, err := e.Send(context.Background(), addCallback(t, c, "wm1"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Answered || d.Requests != 2 {
		t.Fatalf("delivery %+v, want answered at the second request", d)
	}
	got := rc.opened()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	if got[0].nonce == got[1].nonce && got[0].signature == got[1].signature {
		t.Error("the retry was not re-sealed")
	}
	if got[0].event.DedupKey() != got[1].event.DedupKey() {
		t.Error("the retry has another dedup key")
	}
	if s := e.Stats(); s.Sent != 2 || s.Retried != 1 || s.Failed != 1 || s.Answered != 1 || s.Lost != 0 {
		t.Errorf("stats %+v", s)
	}
	select {
	case <-dropped:
	case <-time.After(10 * time.Second):
		t.Fatal("the first delivery's connection was not dropped")
	}
}

// TestThreeDeliveriesThenLost: any status but 200 is a failure; after
// three deliveries the callback is lost.
func TestThreeDeliveriesThenLost(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusNoContent, http.StatusServiceUnavailable} {
		c, _ := newCorp(t)
		rc := newReceiver(t)
		rc.answer = func(int, *http.Request) int { return status }
		e := newEmitter(t, c, rc, Habits{})
		d, err := e.Send(context.Background(), addCallback(t, c, "wm1"))
		if err != nil {
			t.Fatal(err)
		}
		if d.Answered || !d.Lost() || d.Requests != 3 || len(rc.opened()) != 3 {
			t.Errorf("status %d: delivery %+v after %d requests, want lost after 3", status, d, len(rc.requests()))
		}
		if s := e.Stats(); s.Sent != 3 || s.Retried != 2 || s.Failed != 3 || s.Lost != 1 || s.Dropped != 0 {
			t.Errorf("status %d: stats %+v", status, s)
		}
	}
	// A 503 then a 200: two deliveries.
	c, _ := newCorp(t)
	rc := newReceiver(t)
	rc.answer = func(n int, _ *http.Request) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	e := newEmitter(t, c, rc, Habits{}, func(o *EmitterOptions) { o.Attempts = 3 })
	if d, _ := e.Send(context.Background(), addCallback(t, c, "wm1")); !d.Answered || d.Requests != 2 {
		t.Errorf("503 then 200: %+v", d)
	}
}

// TestDuplicates: a duplicate arrives twice with the same DedupKey, re-
// sealed or byte for byte; a concurrent one overlaps the original.
func TestDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reseal     bool
		concurrent bool
	}{{"resealed", true, false}, {"identical", false, false}, {"concurrent resealed", true, true}, {"concurrent identical", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCorp(t)
			rc := newReceiver(t)
			h := Habits{Duplicate: 1}
			if tc.reseal {
				h.Reseal = 1
			}
			if tc.concurrent {
				h.Concurrent = 1
				// Hold the first request until the second arrives: only
				// concurrent copies get both answered.
				both := make(chan struct{})
				var n atomic.Int32
				rc.answer = func(int, *http.Request) int {
					if n.Add(1) == 2 {
						close(both)
					}
					select {
					case <-both:
						return http.StatusOK
					case <-time.After(10 * time.Second):
						return http.StatusGatewayTimeout
					}
				}
			}
			e := newEmitter(t, c, rc, h, func(o *EmitterOptions) { o.Attempts = 1; o.Timeout = 20 * time.Second })
			d, err := e.Send(context.Background(), addCallback(t, c, "wm1"))
			if err != nil {
				t.Fatal(err)
			}
			got := rc.opened()
			if !d.Duplicated || d.Concurrent != tc.concurrent || d.Requests != 2 || len(got) != 2 {
				t.Fatalf("delivery %+v, %d requests", d, len(got))
			}
			if s := e.Stats(); s.Answered != 2 || s.Duplicated != 1 {
				t.Errorf("stats %+v, want both copies answered", s)
			}
			if got[0].event.DedupKey() != got[1].event.DedupKey() {
				t.Error("copies have different dedup keys")
			}
			same := bytes.Equal(got[0].body, got[1].body) && got[0].nonce == got[1].nonce &&
				got[0].timestamp == got[1].timestamp && got[0].signature == got[1].signature
			if same == tc.reseal {
				t.Errorf("copies identical: %v, want %v", same, !tc.reseal)
			}
		})
	}
}

// TestLostCallbacksAreNeverSent: with a seeded loss rate, exactly the
// callbacks not dropped arrive.
func TestLostCallbacksAreNeverSent(t *testing.T) {
	c, _ := newCorp(t)
	rc := newReceiver(t)
	e := newEmitter(t, c, rc, Habits{Lose: 0.5})
	want := map[string]bool{}
	var dropped int
	for i := range 40 {
		cb := addCallback(t, c, "wm"+strings.Repeat("x", i+1))
		d, err := e.Send(context.Background(), cb)
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := payload.Parse(cb.XML(Dialect{}))
		if d.Dropped {
			dropped++
			if d.Requests != 0 || d.Answered {
				t.Errorf("dropped callback delivered: %+v", d)
			}
			continue
		}
		want[ev.DedupKey()] = true
	}
	if dropped == 0 || dropped == 40 {
		t.Fatalf("%d of 40 dropped at p=0.5", dropped)
	}
	got := rc.opened()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d", len(got), len(want))
	}
	for _, r := range got {
		if !want[r.event.DedupKey()] {
			t.Error("a dropped callback arrived")
		}
	}
	if s := e.Stats(); s.Dropped != dropped || s.Lost != dropped || s.Callbacks != 40 || s.Sent != len(want) {
		t.Errorf("stats %+v, dropped %d", s, dropped)
	}
}

// TestQuirksStillParse: every dialect variation still opens and parses,
// and has the effect it names.
func TestQuirksStillParse(t *testing.T) {
	c, _ := newCorp(t)
	add := must[Callback](t)(c.AddExternalContact("10086", Customer{ExternalUserID: "0012345"}, Add{State: "expo2026", AddWay: 1}))
	half := must[Callback](t)(c.AddHalfExternalContact("lina", Customer{ExternalUserID: "wmHalf"}, Add{State: "wechat-ad"}))
	del := must[Callback](t)(c.DelFollowUser("10086", "0012345"))
	must[Callback](t)(c.CreateGroup(NewGroup{ChatID: "wrG", Owner: "zhangwei", Name: "a]]>b & <c>"}))
	join := must[Callback](t)(c.JoinGroup("wrG", Join{ID: "0012345", Customer: true, Scene: JoinQRCode}))
	notice := must[Callback](t)(c.ChangeGroupNotice("wrG", "x"))

	parse := func(cb Callback, d Dialect) payload.Event {
		t.Helper()
		b := cb.XML(d)
		if d.NoCDATA && bytes.Contains(b, []byte("CDATA")) {
			t.Errorf("%s %v: CDATA in %s", cb.Kind(), d, b)
		}
		ev, err := payload.Parse(b)
		if err != nil {
			t.Fatalf("%s %v: %v", cb.Kind(), d, err)
		}
		return ev
	}
	for _, d := range []Dialect{{}, {NoCDATA: true}} {
		if ev := parse(add, d); ev.UserID != "10086" || ev.ExternalUserID != "0012345" || ev.State != "expo2026" {
			t.Errorf("%v: numeric-looking ids %q %q", d, ev.UserID, ev.ExternalUserID)
		}
		if ev := parse(join, d); len(ev.MemChangeList) != 1 || ev.MemChangeList[0] != "0012345" || ev.JoinScene.Value != 3 {
			t.Errorf("%v: join %+v", d, ev)
		}
	}
	if ev := parse(add, Dialect{OmitState: true}); ev.State != "" || ev.WelcomeCode == "" {
		t.Errorf("OmitState: State %q", ev.State)
	}
	if ev := parse(del, Dialect{}); ev.State != "" {
		t.Errorf("documented del_follow_user with State %q", ev.State)
	}
	if ev := parse(del, Dialect{StateOnDelFollow: true, NoCDATA: true}); ev.State != "expo2026" {
		t.Errorf("StateOnDelFollow: State %q", ev.State)
	}
	if ev := parse(half, Dialect{HalfAsFull: true}); ev.ChangeType != "add_external_contact" || ev.State != "wechat-ad" {
		t.Errorf("HalfAsFull: %q", ev.ChangeType)
	}
	if ev := parse(notice, Dialect{NoCDATA: true}); ev.UpdateDetail != "change_notice" {
		t.Errorf("notice %+v", ev)
	}

	// Through the emitter, Quirk 1 writes every callback in some
	// undocumented dialect, and each still opens and parses.
	rc := newReceiver(t)
	e := newEmitter(t, c, rc, Habits{Quirk: 1})
	for _, cb := range []Callback{add, half, del, join, notice} {
		d, err := e.Send(context.Background(), cb)
		if err != nil || d.Dialect.IsZero() || d.Dialect != d.Dialect.applicable(cb) {
			t.Errorf("%s: %+v %v", cb.Kind(), d, err)
		}
	}
	if got := rc.opened(); len(got) != 5 {
		t.Errorf("%d arrived", len(got))
	}
	if s := e.Stats(); s.Quirked != 5 {
		t.Errorf("stats %+v", s)
	}
}

func TestVerifyURL(t *testing.T) {
	c, _ := newCorp(t)
	rc := newReceiver(t)
	e := newEmitter(t, c, rc, Habits{})
	if err := e.VerifyURL(context.Background()); err != nil {
		t.Fatalf("verify against a correct receiver: %v", err)
	}
	for name, h := range map[string]http.HandlerFunc{
		"trailing newline": func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			plain, _ := rc.crypto.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
			_, _ = w.Write(append(plain, '\n'))
		},
		"quoted": func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			plain, _ := rc.crypto.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
			_, _ = w.Write([]byte(`"` + string(plain) + `"`))
		},
		"status 500": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
		"too slow":   func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
	} {
		srv := httptest.NewServer(h)
		e := newEmitter(t, c, rc, Habits{}, func(o *EmitterOptions) { o.URL = srv.URL; o.VerifyTimeout = 100 * time.Millisecond })
		if err := e.VerifyURL(context.Background()); !errors.Is(err, ErrVerify) {
			t.Errorf("%s: %v, want ErrVerify", name, err)
		}
		srv.Close()
	}
}

func TestEmitterOptionsValidate(t *testing.T) {
	c, _ := newCorp(t)
	for name, o := range map[string]EmitterOptions{
		"no url":         {Corp: "acme", Crypto: c.Crypto()},
		"ftp url":        {URL: "ftp://x", Corp: "acme", Crypto: c.Crypto()},
		"no corp":        {URL: "http://x", Crypto: c.Crypto()},
		"no crypto":      {URL: "http://x", Corp: "acme"},
		"negative":       {URL: "http://x", Corp: "acme", Crypto: c.Crypto(), Timeout: -1},
		"probability":    {URL: "http://x", Corp: "acme", Crypto: c.Crypto(), Habits: Habits{Lose: 1.5}},
		"NaN":            {URL: "http://x", Corp: "acme", Crypto: c.Crypto(), Habits: Habits{Duplicate: math.NaN()}},
		"negative prob.": {URL: "http://x", Corp: "acme", Crypto: c.Crypto(), Habits: Habits{Quirk: -0.1}},
		"attempts":       {URL: "http://x", Corp: "acme", Crypto: c.Crypto(), Attempts: -1},
	} {
		if _, err := NewEmitter(o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewEmitter(EmitterOptions{URL: "http://127.0.0.1:8080", Corp: "acme", Crypto: c.Crypto(),
		Rand: rand.New(rand.NewPCG(1, 2))}); err != nil {
		t.Errorf("valid options: %v", err)
	}
}
