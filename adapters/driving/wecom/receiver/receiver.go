// Package receiver is custody's WeCom callback endpoint:
//
//	GET  /wecom/callback/{corp}  URL verification (msg_signature, timestamp, nonce, echostr)
//	POST /wecom/callback/{corp}  an event (msg_signature, timestamp, nonce; XML or JSON envelope)
//
// {corp} is custody's corp, connected to WeCom with `custody wecom connect`.
// There is no bearer token: WeCom signs instead. A request is accepted only
// when the corp is connected, the signature matches one of its current or
// overlapping Token/EncodingAESKey pairs, the message decrypts with valid
// 32-byte PKCS#7 padding to the corp's WeCom corpid, the timestamp is within
// the freshness window (callback.DefaultMaxSkew) and the body is within the
// size limit. Everything else is refused with a status other than 200 —
// WeCom then retries — counted in custody_wecom_callbacks_total by reason,
// and never recorded.
//
// An accepted event is stored in the inbox before the 200 (empty body) is
// sent; storing is the only work on the request path, bounded by
// Options.StoreTimeout so that WeCom's 5-second limit is never reached: a
// store that takes longer answers 503 and WeCom's retry brings the callback
// again. Translation into commands happens afterwards (package ingest).
package receiver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/driving/wecom/callback"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/payload"
)

// PathPrefix is where the receiver is mounted.
const PathPrefix = "/wecom/callback/"

// Connections looks up a corp's WeCom connection (connection.Store).
type Connections interface {
	Get(ctx context.Context, corpID string) (connection.Connection, error)
}

// Inbox stores accepted callbacks (inbox.Inbox).
type Inbox interface {
	Store(ctx context.Context, cb inbox.Callback) (inbox.Stored, error)
}

// Options configure a Receiver.
type Options struct {
	// Connections and Inbox are required.
	Connections Connections
	Inbox       Inbox
	// Registerer receives the receiver's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default(). Nothing personal is logged.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// StoreTimeout bounds storing a callback; default 3 s, below WeCom's 5.
	StoreTimeout time.Duration
	// CacheTTL is how long a corp's connection is cached; default 5 s, so
	// `custody wecom connect` takes effect within it.
	CacheTTL time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 3 * time.Second
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Second
	}
}

// Validate reports every missing option, joined.
func (o Options) Validate() error {
	var errs []error
	if o.Connections == nil {
		errs = append(errs, errors.New("receiver: Options.Connections is required"))
	}
	if o.Inbox == nil {
		errs = append(errs, errors.New("receiver: Options.Inbox is required"))
	}
	return errors.Join(errs...)
}

// Receiver is the callback endpoint, an http.Handler for PathPrefix. It is
// safe for concurrent use.
type Receiver struct {
	opts    Options
	results *prometheus.CounterVec
	latency prometheus.Histogram

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	crypto  *callback.Crypto
	err     error
	expires time.Time
}

// New builds a Receiver.
func New(o Options) (*Receiver, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	r := &Receiver{
		opts: o,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_wecom_callbacks_total",
			Help: "WeCom callbacks by result (stored, duplicate, verified, refused) and reason of a refusal.",
		}, []string{"result", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "custody_wecom_callback_ack_seconds",
			Help:    "Time from receiving a WeCom callback to answering it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		cache: map[string]cached{},
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{r.results, r.latency} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("receiver: metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Refusal reasons (the reason label of custody_wecom_callbacks_total).
const (
	reasonMethod      = "method"
	reasonPath        = "path"
	reasonUnknownCorp = "unknown_corp"
	reasonQuery       = "query"
	reasonStale       = "stale"
	reasonSignature   = "signature"
	reasonDecrypt     = "decrypt"
	reasonReceiveID   = "receive_id"
	reasonTooLarge    = "too_large"
	reasonMalformed   = "malformed"
	reasonUnavailable = "unavailable"
)

// ServeHTTP answers WeCom.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := r.opts.Now()
	defer func() { r.latency.Observe(time.Since(start).Seconds()) }()
	corp, ok := strings.CutPrefix(req.URL.Path, PathPrefix)
	if !ok || !validCorpID(corp) {
		r.refuse(w, http.StatusNotFound, reasonPath, "unknown callback path")
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		r.refuse(w, http.StatusMethodNotAllowed, reasonMethod, "GET or POST")
		return
	}
	q := req.URL.Query()
	sig, ts, nonce := q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce")
	if sig == "" || ts == "" || nonce == "" || len(sig) > 64 || len(ts) > 20 || len(nonce) > 64 {
		r.refuse(w, http.StatusBadRequest, reasonQuery, "msg_signature, timestamp and nonce are required")
		return
	}
	c, err := r.crypto(req.Context(), corp)
	switch {
	case errors.Is(err, connection.ErrNotFound):
		r.refuse(w, http.StatusNotFound, reasonUnknownCorp, "corp not connected to WeCom")
		return
	case err != nil:
		r.opts.Logger.Error("wecom callback: connection lookup failed", "corp", corp, "err", err)
		r.refuse(w, http.StatusServiceUnavailable, reasonUnavailable, "try again")
		return
	}
	if err := c.CheckTimestamp(ts, r.opts.Now()); err != nil {
		r.refuse(w, http.StatusBadRequest, reasonStale, "timestamp outside the accepted window")
		return
	}
	if req.Method == http.MethodGet {
		r.verifyURL(w, c, corp, sig, ts, nonce, q.Get("echostr"))
		return
	}
	r.event(w, req, c, corp, sig, ts, nonce)
}

func (r *Receiver) verifyURL(w http.ResponseWriter, c *callback.Crypto, corp, sig, ts, nonce, echostr string) {
	plain, err := c.VerifyURL(sig, ts, nonce, echostr)
	if err != nil {
		r.refuseCrypto(w, err)
		return
	}
	r.results.WithLabelValues("verified", "").Inc()
	r.opts.Logger.Info("wecom callback URL verified", "corp", corp)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(plain)
}

func (r *Receiver) event(w http.ResponseWriter, req *http.Request, c *callback.Crypto, corp, sig, ts, nonce string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, int64(c.MaxBody())))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.refuse(w, http.StatusRequestEntityTooLarge, reasonTooLarge, "body too large")
			return
		}
		r.refuse(w, http.StatusBadRequest, reasonMalformed, "reading the body failed")
		return
	}
	msg, err := c.Open(sig, ts, nonce, body)
	if err != nil {
		r.refuseCrypto(w, err)
		return
	}
	ev, err := payload.Parse(msg.Plaintext)
	if err != nil {
		// Signed by WeCom but not an event we can read: still a fact
		// WeCom told us; keep it, so nothing acknowledged is lost.
		ev = payload.Event{}
	}
	cb := inbox.Callback{
		CorpID: corp, DedupKey: dedupKey(ev, err, msg.Plaintext), Kind: kindOf(ev, err),
		Subject: subjectOf(ev), Payload: msg.Plaintext,
	}
	if t, ok := ev.Time(); ok {
		cb.CreateTime = t
	}
	ctx, cancel := context.WithTimeout(req.Context(), r.opts.StoreTimeout)
	defer cancel()
	stored, err := r.opts.Inbox.Store(ctx, cb)
	if err != nil {
		r.opts.Logger.Error("wecom callback: storing failed; WeCom will retry", "corp", corp, "kind", cb.Kind, "err", err)
		r.refuse(w, http.StatusServiceUnavailable, reasonUnavailable, "try again")
		return
	}
	result := "stored"
	if stored.Duplicate {
		result = "duplicate"
	}
	r.results.WithLabelValues(result, "").Inc()
	w.WriteHeader(http.StatusOK)
}

func (r *Receiver) refuseCrypto(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, callback.ErrBadSignature):
		r.refuse(w, http.StatusForbidden, reasonSignature, "signature does not match")
	case errors.Is(err, callback.ErrBadReceiveID):
		r.refuse(w, http.StatusForbidden, reasonReceiveID, "message for another corp")
	case errors.Is(err, callback.ErrTooLarge):
		r.refuse(w, http.StatusRequestEntityTooLarge, reasonTooLarge, "message too large")
	case errors.Is(err, callback.ErrBadPadding):
		r.refuse(w, http.StatusBadRequest, reasonDecrypt, "message does not decrypt")
	default:
		r.refuse(w, http.StatusBadRequest, reasonMalformed, "malformed message")
	}
}

// refuse answers with a short plain-text reason (WeCom reads only the
// status) and counts the refusal.
func (r *Receiver) refuse(w http.ResponseWriter, status int, reason, text string) {
	r.results.WithLabelValues("refused", reason).Inc()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// crypto returns the corp's callback crypto, cached for CacheTTL.
func (r *Receiver) crypto(ctx context.Context, corp string) (*callback.Crypto, error) {
	now := r.opts.Now()
	r.mu.Lock()
	e, ok := r.cache[corp]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.crypto, e.err
	}
	conn, err := r.opts.Connections.Get(ctx, corp)
	e = cached{err: err, expires: now.Add(r.opts.CacheTTL)}
	if err == nil {
		keys := make([]callback.Key, 0, 1+len(conn.Previous))
		for _, k := range conn.Keys(now) {
			keys = append(keys, callback.Key{Token: k.Token, EncodingAESKey: k.EncodingAESKey})
		}
		e.crypto, e.err = callback.New(callback.Options{Keys: keys, ReceiveIDs: []string{conn.WeComCorpID}})
		if e.err == nil && len(conn.Previous) > 0 {
			// Expire the entry when the next previous key does.
			for _, k := range conn.Previous {
				if k.Until.After(now) && k.Until.Before(e.expires) {
					e.expires = k.Until
				}
			}
		}
	} else if !errors.Is(err, connection.ErrNotFound) {
		return nil, err // don't cache outages
	}
	r.mu.Lock()
	r.cache[corp] = e
	r.mu.Unlock()
	return e.crypto, e.err
}

// kindOf names a callback for the inbox; an unreadable payload is kept
// under the kind "unreadable".
func kindOf(ev payload.Event, parseErr error) string {
	if parseErr != nil {
		return "unreadable"
	}
	if k := ev.Kind(); k != "" {
		return truncate(k, 200)
	}
	return "unknown"
}

func dedupKey(ev payload.Event, parseErr error, plain []byte) string {
	if parseErr != nil {
		sum := sha256.Sum256(plain)
		return "raw:" + hex.EncodeToString(sum[:])
	}
	return ev.DedupKey()
}

// subjectOf is what orders a callback among others: its customer or chat.
func subjectOf(ev payload.Event) string {
	switch {
	case ev.ChatID != "":
		return truncate("chat:"+ev.ChatID, 200)
	case ev.ExternalUserID != "":
		return truncate("customer:"+ev.ExternalUserID, 200)
	}
	return ""
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// validCorpID: 1-64 of [A-Za-z0-9_], custody's corp ids.
func validCorpID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
