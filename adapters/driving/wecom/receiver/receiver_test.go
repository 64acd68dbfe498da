package receiver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/driving/wecom/callback"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/receiver"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// WeCom's official sample (../shared/WECOM.md).
const (
	sampleToken   = "QDG6eK"
	sampleAESKey  = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	sampleCorpID  = "wx5823bf96d3bd56c7"
	sampleEchoURL = "/wecom/callback/acme?msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780" +
		"&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
	otherAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

type fixture struct {
	pool  *pgxpool.Pool
	conns *connection.Store
	inbox *inbox.Inbox
	reg   *prometheus.Registry
	srv   *httptest.Server
	now   time.Time
}

func newFixture(t testing.TB, now time.Time, mod ...func(*receiver.Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{pii.Migrate, connection.Migrate, inbox.Migrate} {
		if err := m(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	keyring, err := pii.NewKeyring(bytes.Repeat([]byte{9}, 32), pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{pool: pool, conns: connection.NewStore(pool, keyring), inbox: inbox.New(pool), reg: prometheus.NewRegistry(), now: now}
	if _, err := f.conns.Connect(ctx, connection.Connection{CorpID: "acme", WeComCorpID: sampleCorpID,
		Current: connection.Key{Token: sampleToken, EncodingAESKey: sampleAESKey}}, 0); err != nil {
		t.Fatal(err)
	}
	o := receiver.Options{Connections: f.conns, Inbox: f.inbox, Registerer: f.reg, Now: func() time.Time { return f.now }, CacheTTL: time.Nanosecond}
	for _, m := range mod {
		m(&o)
	}
	rc, err := receiver.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(rc)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) crypto(t testing.TB, token, key, corpid string) *callback.Crypto {
	t.Helper()
	c, err := callback.New(callback.Options{Keys: []callback.Key{{Token: token, EncodingAESKey: key}}, ReceiveIDs: []string{corpid}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// post seals plain like WeCom and POSTs it; it returns the status.
func (f *fixture) post(t *testing.T, c *callback.Crypto, corp, plain string) int {
	t.Helper()
	ts := fmt.Sprint(f.now.Unix())
	nonce := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	s, err := c.Seal([]byte(plain), ts, nonce, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"msg_signature": {s.Signature}, "timestamp": {ts}, "nonce": {nonce}}
	resp, err := http.Post(f.srv.URL+"/wecom/callback/"+corp+"?"+q.Encode(), "text/xml", bytes.NewReader(s.Body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (f *fixture) stored(t *testing.T) []inbox.Item {
	t.Helper()
	items, err := f.inbox.List(context.Background(), "acme", inbox.StatusPending, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func addEvent(customer string, created int64) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"+
		"<ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID>"+
		"<ExternalUserID><![CDATA[%s]]></ExternalUserID><State><![CDATA[expo]]></State><WelcomeCode><![CDATA[W]]></WelcomeCode></xml>",
		sampleCorpID, created, customer)
}

// TestVerifyURLOfficialSample: WeCom's own URL check answers the bare
// plaintext — no quotes, BOM or newline.
func TestVerifyURLOfficialSample(t *testing.T) {
	f := newFixture(t, time.Unix(1409659589, 0))
	resp, err := http.Get(f.srv.URL + sampleEchoURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "1616140317555161061" {
		t.Fatalf("GET = %d %q, want 200 %q", resp.StatusCode, body, "1616140317555161061")
	}
	if n := counter(t, f, "verified", ""); n != 1 {
		t.Fatalf("verified counter = %v", n)
	}
	// The same URL an hour later is a replay: refused.
	f.now = f.now.Add(time.Hour)
	resp, err = http.Get(f.srv.URL + sampleEchoURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("a stale URL verification was answered")
	}
}

// TestEventStoredOnceAcrossRetries: WeCom delivers a callback up to three
// times (here re-sealed each time and concurrently); it is stored once and
// every delivery gets a 200.
func TestEventStoredOnceAcrossRetries(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	c := f.crypto(t, sampleToken, sampleAESKey, sampleCorpID)
	plain := addEvent("wmCUST1", now.Unix()-2)
	var wg sync.WaitGroup
	statuses := make(chan int, 3)
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); statuses <- f.post(t, c, "acme", plain) }()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Fatalf("delivery answered %d", s)
		}
	}
	items := f.stored(t)
	if len(items) != 1 || items[0].Deliveries != 3 || items[0].Kind != "change_external_contact/add_external_contact" ||
		items[0].Subject != "customer:wmCUST1" || !items[0].CreateTime.Equal(time.Unix(now.Unix()-2, 0)) || string(items[0].Payload) != plain {
		t.Fatalf("stored %+v", items)
	}
	// An unknown kind is stored too, not refused.
	unknown := strings.Replace(plain, "add_external_contact", "something_new", 1)
	if s := f.post(t, c, "acme", unknown); s != 200 {
		t.Fatalf("unknown kind answered %d", s)
	}
	if got := f.stored(t); len(got) != 2 || got[1].Kind != "change_external_contact/something_new" {
		t.Fatalf("after unknown kind: %+v", got)
	}
}

// TestRefusedCallbacksAreNeverStored: anything unsigned, mis-signed,
// for another corp, stale, oversized or malformed is refused and counted.
func TestRefusedCallbacksAreNeverStored(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	good := f.crypto(t, sampleToken, sampleAESKey, sampleCorpID)
	plain := addEvent("wmCUST1", now.Unix())
	sealed, err := good.Seal([]byte(plain), fmt.Sprint(now.Unix()), "n1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	query := func(sig, ts, nonce string) string {
		return url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}.Encode()
	}
	ts := fmt.Sprint(now.Unix())
	cases := []struct {
		name, method, path, query string
		body                      []byte
		status                    int
		reason                    string
	}{
		{"wrong signature", "POST", "acme", query(strings.Repeat("0", 40), ts, "n1"), sealed.Body, 403, "signature"},
		{"nonce changed", "POST", "acme", query(sealed.Signature, ts, "n2"), sealed.Body, 403, "signature"},
		{"no query", "POST", "acme", "", sealed.Body, 400, "query"},
		{"unknown corp", "POST", "nobody", query(sealed.Signature, ts, "n1"), sealed.Body, 404, "unknown_corp"},
		{"bad corp path", "POST", "a-b", query(sealed.Signature, ts, "n1"), sealed.Body, 404, "path"},
		{"stale", "POST", "acme", query(sealed.Signature, fmt.Sprint(now.Add(-time.Hour).Unix()), "n1"), sealed.Body, 400, "stale"},
		{"oversized", "POST", "acme", query(sealed.Signature, ts, "n1"), bytes.Repeat([]byte("x"), 1<<20), 413, "too_large"},
		{"not xml", "POST", "acme", query(sealed.Signature, ts, "n1"), []byte("{{{"), 400, "malformed"},
		{"method", "PUT", "acme", query(sealed.Signature, ts, "n1"), sealed.Body, 405, "method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.srv.URL+"/wecom/callback/"+tc.path+"?"+tc.query, bytes.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if n := counter(t, f, "refused", tc.reason); n < 1 {
				t.Fatalf("refusal %q not counted", tc.reason)
			}
		})
	}
	// Signed with the right token and key but for another corpid.
	other := f.crypto(t, sampleToken, sampleAESKey, "wxOTHER")
	if s := f.post(t, other, "acme", plain); s != 403 {
		t.Fatalf("foreign receive id answered %d", s)
	}
	if got := f.stored(t); len(got) != 0 {
		t.Fatalf("refused callbacks stored: %+v", got)
	}
}

// TestRotationOverlap: after `custody wecom connect` with a new key,
// callbacks signed under the old key are accepted during the overlap only.
func TestRotationOverlap(t *testing.T) {
	now := time.Now().UTC()
	f := newFixture(t, now)
	old := f.crypto(t, sampleToken, sampleAESKey, sampleCorpID)
	if _, err := f.conns.Connect(context.Background(), connection.Connection{CorpID: "acme", WeComCorpID: sampleCorpID,
		Current: connection.Key{Token: "NewToken", EncodingAESKey: otherAESKey}}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	fresh := f.crypto(t, "NewToken", otherAESKey, sampleCorpID)
	if s := f.post(t, fresh, "acme", addEvent("wmA", now.Unix())); s != 200 {
		t.Fatalf("new key answered %d", s)
	}
	if s := f.post(t, old, "acme", addEvent("wmB", now.Unix())); s != 200 {
		t.Fatalf("old key within the overlap answered %d", s)
	}
	f.now = now.Add(11 * time.Minute)
	if s := f.post(t, old, "acme", addEvent("wmC", f.now.Unix())); s != 403 {
		t.Fatalf("old key after the overlap answered %d", s)
	}
	if got := f.stored(t); len(got) != 2 {
		t.Fatalf("stored %d callbacks, want 2", len(got))
	}
}

// TestSlowDatabaseAnswersBeforeWeComGivesUp: while the inbox table is
// locked the store cannot finish; the receiver answers 503 within its
// StoreTimeout (WeCom retries), stores nothing, and stores the retry once
// the database is free.
func TestSlowDatabaseAnswersBeforeWeComGivesUp(t *testing.T) {
	now := time.Now().UTC()
	f := newFixture(t, now, func(o *receiver.Options) { o.StoreTimeout = 300 * time.Millisecond })
	c := f.crypto(t, sampleToken, sampleAESKey, sampleCorpID)
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE wecom.inbox IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status := f.post(t, c, "acme", addEvent("wmSLOW", now.Unix()))
	elapsed := time.Since(start)
	if status != 503 {
		t.Fatalf("store blocked: answered %d, want 503", status)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("answered after %v, past WeCom's 5 seconds", elapsed)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if s := f.post(t, c, "acme", addEvent("wmSLOW", now.Unix())); s != 200 {
		t.Fatalf("retry answered %d", s)
	}
	if got := f.stored(t); len(got) != 1 || got[0].Deliveries != 1 {
		t.Fatalf("stored %+v", got)
	}
}

func counter(t *testing.T, f *fixture, result, reason string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "custody_wecom_callbacks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] == result && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
