package standin

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/callback"
	"github.com/custody/custody/adapters/driving/wecom/payload"
)

// WeCom's official sample keys (WECOM.md), as the test corp's.
const (
	testCorpID = "wx5823bf96d3bd56c7"
	testToken  = "QDG6eK"
	testAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
)

// received is one request the test receiver got.
type received struct {
	method    string
	path      string
	signature string
	timestamp string
	nonce     string
	body      []byte
	plaintext []byte
	event     payload.Event
	openErr   error
}

// receiver plays custody's side: it opens every POST with callback.Crypto
// and parses it with payload.Parse, and answers what answer says.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	crypto *callback.Crypto

	mu  sync.Mutex
	got []received
	// answer decides the status of request n (1-based); nil answers 200.
	// It may block; it gets the request to watch its context.
	answer func(n int, r *http.Request) int
	// arrived is signalled after each request is recorded.
	arrived chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	crypto, err := callback.New(callback.Options{
		Keys:       []callback.Key{{Token: testToken, EncodingAESKey: testAESKey}},
		ReceiveIDs: []string{testCorpID},
	})
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, crypto: crypto, arrived: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	got := received{method: r.Method, path: r.URL.Path, signature: q.Get("msg_signature"), timestamp: q.Get("timestamp"), nonce: q.Get("nonce")}
	if r.Method == http.MethodGet {
		plain, err := rc.crypto.VerifyURL(got.signature, got.timestamp, got.nonce, q.Get("echostr"))
		if err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		_, _ = w.Write(plain)
		return
	}
	got.body, _ = io.ReadAll(r.Body)
	msg, err := rc.crypto.Open(got.signature, got.timestamp, got.nonce, got.body)
	got.openErr = err
	if err == nil {
		got.plaintext = msg.Plaintext
		got.event, got.openErr = payload.Parse(msg.Plaintext)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, got)
	n := len(rc.got)
	answer := rc.answer
	rc.mu.Unlock()
	rc.arrived <- struct{}{}
	status := http.StatusOK
	if answer != nil {
		status = answer(n, r)
	}
	w.WriteHeader(status)
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// opened returns the requests, failing the test on any that did not open
// and parse.
func (rc *receiver) opened() []received {
	rc.t.Helper()
	got := rc.requests()
	for i, r := range got {
		if r.openErr != nil {
			rc.t.Fatalf("request %d: %v", i, r.openErr)
		}
		if r.path != "/wecom/callback/acme" {
			rc.t.Fatalf("request %d: path %q", i, r.path)
		}
	}
	return got
}

// clock is a settable clock for the corp.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newCorp(t *testing.T) (*Corp, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, Shanghai)}
	c, err := New(Options{CorpID: testCorpID, Token: testToken, EncodingAESKey: testAESKey, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Staff{{UserID: "zhangwei", Name: "张伟"}, {UserID: "lina", Name: "李娜"}, {UserID: "10086", Name: "刘洋"}} {
		if err := c.AddStaff(s.UserID, s.Name); err != nil {
			t.Fatal(err)
		}
	}
	return c, clk
}

func newEmitter(t *testing.T, c *Corp, rc *receiver, h Habits, mod ...func(*EmitterOptions)) *Emitter {
	t.Helper()
	o := EmitterOptions{URL: rc.srv.URL, Corp: "acme", Crypto: c.Crypto(), Habits: h,
		Rand: rand.New(rand.NewPCG(42, 42)), Timeout: 5 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	e, err := NewEmitter(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
