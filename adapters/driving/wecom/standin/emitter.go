package standin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/callback"
)

// WeCom's delivery figures (WECOM.md, "Callback transport and crypto").
const (
	// DefaultTimeout is how long WeCom waits for an answer before it drops
	// the connection and tries again.
	DefaultTimeout = 5 * time.Second
	// DefaultAttempts is how many deliveries WeCom makes in all.
	DefaultAttempts = 3
	// DefaultVerifyTimeout is how long WeCom waits for the answer to a URL
	// check.
	DefaultVerifyTimeout = time.Second
)

// ErrVerify: the URL check failed (no answer in time, a status other than
// 200, or an answer other than the bare echostr plaintext).
var ErrVerify = errors.New("standin: URL verification failed")

// Habits are the probabilities, each in [0, 1], of WeCom's delivery habits.
// The zero Habits deliver every callback once, in the documented dialect.
type Habits struct {
	// Lose: the callback is never sent (WeCom promises nothing).
	Lose float64
	// Duplicate: the callback is delivered twice, each copy with its own
	// retries.
	Duplicate float64
	// Concurrent: a duplicate is sent at the same time as the original
	// rather than after it.
	Concurrent float64
	// Reseal: a duplicate is sealed again (new timestamp, nonce and random
	// prefix) rather than sent byte for byte as the original's first
	// delivery. Retries are always re-sealed.
	Reseal float64
	// Quirk: the callback is written in the undocumented dialect: each
	// quirk that applies to it (see Dialect) with probability ½, at least
	// NoCDATA.
	Quirk float64
}

// Validate reports every probability outside [0, 1] (or NaN), joined;
// each wraps ErrInvalid.
func (h Habits) Validate() error {
	var errs []error
	for _, p := range []struct {
		name string
		v    float64
	}{{"lose", h.Lose}, {"duplicate", h.Duplicate}, {"concurrent", h.Concurrent}, {"reseal", h.Reseal}, {"quirk", h.Quirk}} {
		if !(p.v >= 0 && p.v <= 1) {
			errs = append(errs, fmt.Errorf("%s probability %v not in [0, 1]: %w", p.name, p.v, ErrInvalid))
		}
	}
	return errors.Join(errs...)
}

// EmitterOptions configure an Emitter.
type EmitterOptions struct {
	// URL is custody's base URL, e.g. http://127.0.0.1:8080. Required.
	URL string
	// Corp is custody's corp id: callbacks go to
	// <URL>/wecom/callback/<Corp>. Required.
	Corp string
	// Crypto seals the callbacks: Corp.Crypto(). Required.
	Crypto *callback.Crypto
	// Client makes the requests; default a new http.Client. Its own
	// Timeout, if any, also applies.
	Client *http.Client
	// Timeout is the answer timeout of one delivery; default
	// DefaultTimeout.
	Timeout time.Duration
	// Attempts is the number of deliveries in all; default
	// DefaultAttempts.
	Attempts int
	// RetryDelay is the pause before a retry; default none (WeCom
	// documents no interval).
	RetryDelay time.Duration
	// VerifyTimeout is the answer timeout of VerifyURL; default
	// DefaultVerifyTimeout.
	VerifyTimeout time.Duration
	// Habits are the probabilities of duplicates, losses and quirks.
	Habits Habits
	// Rand draws the habits, nonces and random prefixes; default seeded
	// with 1. Seeded, the same sequence of Send calls makes the same
	// decisions and the same envelopes (given the same Now). The Emitter
	// owns it: do not use it elsewhere.
	Rand *rand.Rand
	// Now stamps the envelopes (the timestamp query parameter, which
	// custody checks for freshness); default time.Now. It is not the
	// callbacks' CreateTime, which comes from the Corp's clock.
	Now func() time.Time
}

func (o *EmitterOptions) setDefaults() {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Attempts == 0 {
		o.Attempts = DefaultAttempts
	}
	if o.VerifyTimeout == 0 {
		o.VerifyTimeout = DefaultVerifyTimeout
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(1, 1))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every problem with o (after defaults), joined; each
// wraps ErrInvalid.
func (o EmitterOptions) Validate() error {
	var errs []error
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		errs = append(errs, fmt.Errorf("url %q: want http(s)://host[:port][/path]: %w", o.URL, ErrInvalid))
	}
	if o.Corp == "" {
		errs = append(errs, fmt.Errorf("empty custody corp: %w", ErrInvalid))
	}
	if o.Crypto == nil {
		errs = append(errs, fmt.Errorf("no crypto: %w", ErrInvalid))
	}
	if o.Timeout < 0 || o.VerifyTimeout < 0 || o.RetryDelay < 0 {
		errs = append(errs, fmt.Errorf("negative duration: %w", ErrInvalid))
	}
	if o.Attempts < 1 {
		errs = append(errs, fmt.Errorf("attempts %d below 1: %w", o.Attempts, ErrInvalid))
	}
	return errors.Join(append(errs, o.Habits.Validate())...)
}

// Emitter delivers callbacks to custody as WeCom does. Safe for concurrent
// use; Send calls made one after another on a seeded Emitter are
// reproducible.
type Emitter struct {
	o        EmitterOptions
	endpoint string

	mu    sync.Mutex
	rand  *rand.Rand
	stats Stats
}

// Stats count what an Emitter did.
type Stats struct {
	// Callbacks given to Send.
	Callbacks int
	// Sent is the number of HTTP deliveries made: first deliveries,
	// retries and duplicates.
	Sent int
	// Retried: deliveries that were retries.
	Retried int
	// Answered: deliveries answered 200 in time.
	Answered int
	// Failed: deliveries that timed out, failed or got another status.
	Failed int
	// Duplicated: callbacks delivered twice.
	Duplicated int
	// Lost: callbacks none of whose deliveries was answered, Dropped
	// included. custody has to find these by reconciliation.
	Lost int
	// Dropped: callbacks lost on purpose, never sent.
	Dropped int
	// Quirked: callbacks written in the undocumented dialect.
	Quirked int
}

// Delivery is what became of one callback.
type Delivery struct {
	Kind string
	// Dialect it was written in; zero (documented) when dropped.
	Dialect Dialect
	// Dropped: lost on purpose, never sent.
	Dropped bool
	// Duplicated: sent twice (Concurrent tells how).
	Duplicated bool
	Concurrent bool
	// Requests made for it, retries and the duplicate included.
	Requests int
	// Answered: at least one request was answered 200 in time.
	Answered bool
}

// Lost reports that custody never acknowledged the callback.
func (d Delivery) Lost() bool { return !d.Answered }

// NewEmitter builds an Emitter, or returns Validate's joined errors.
func NewEmitter(o EmitterOptions) (*Emitter, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Emitter{
		o:        o,
		endpoint: strings.TrimRight(o.URL, "/") + "/wecom/callback/" + url.PathEscape(o.Corp),
		rand:     o.Rand,
	}, nil
}

// Stats returns the counts so far.
func (e *Emitter) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// plan is what the habits decided for one callback.
type plan struct {
	dialect              Dialect
	drop, dup, conc, res bool
	seeds                [4]uint64 // local random sources: original, duplicate
}

func (e *Emitter) plan(cb Callback) plan {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.o.Habits
	var p plan
	p.drop = e.rand.Float64() < h.Lose
	p.dup = e.rand.Float64() < h.Duplicate
	p.conc = e.rand.Float64() < h.Concurrent
	p.res = e.rand.Float64() < h.Reseal
	if e.rand.Float64() < h.Quirk {
		d := Dialect{NoCDATA: e.rand.IntN(2) == 0, OmitState: e.rand.IntN(2) == 0,
			StateOnDelFollow: e.rand.IntN(2) == 0, HalfAsFull: e.rand.IntN(2) == 0}.applicable(cb)
		if d.IsZero() {
			d.NoCDATA = true
		}
		p.dialect = d
	}
	for i := range p.seeds {
		p.seeds[i] = e.rand.Uint64()
	}
	if p.drop {
		p.dialect = Dialect{} // never written
	}
	e.stats.Callbacks++
	switch {
	case p.drop:
		e.stats.Dropped++
		e.stats.Lost++
	case p.dup:
		e.stats.Duplicated++
	}
	if !p.dialect.IsZero() {
		e.stats.Quirked++
	}
	return p
}

// Send delivers cb as WeCom would: rendered in the dialect the habits
// pick, sealed, POSTed with the answer timeout and retried until a 200 or
// Attempts deliveries; perhaps dropped, perhaps delivered twice. It returns
// when every copy is answered or given up. An unanswered callback is not an
// error (it counts as lost); errors are the context's or the sealer's.
func (e *Emitter) Send(ctx context.Context, cb Callback) (Delivery, error) {
	p := e.plan(cb)
	d := Delivery{Kind: cb.Kind(), Dialect: p.dialect, Dropped: p.drop}
	if p.drop {
		return d, nil
	}
	body := cb.XML(p.dialect)
	orig := rand.New(rand.NewPCG(p.seeds[0], p.seeds[1]))
	first, err := e.seal(body, orig)
	if err != nil {
		return d, err
	}
	var dupFirst callback.Sealed
	var dupRand *rand.Rand
	if p.dup {
		d.Duplicated, d.Concurrent = true, p.conc
		dupRand = rand.New(rand.NewPCG(p.seeds[2], p.seeds[3]))
		dupFirst = first
		if p.res {
			if dupFirst, err = e.seal(body, dupRand); err != nil {
				return d, err
			}
		}
	}
	type result struct {
		answered bool
		requests int
		err      error
	}
	run := func(s callback.Sealed, r *rand.Rand) result {
		a, n, err := e.deliver(ctx, body, s, r)
		return result{a, n, err}
	}
	results := []result{}
	switch {
	case !p.dup:
		results = append(results, run(first, orig))
	case p.conc:
		ch := make(chan result, 1)
		go func() { ch <- run(dupFirst, dupRand) }()
		results = append(results, run(first, orig), <-ch)
	default:
		results = append(results, run(first, orig), run(dupFirst, dupRand))
	}
	for _, r := range results {
		d.Answered = d.Answered || r.answered
		d.Requests += r.requests
		if r.err != nil && err == nil {
			err = r.err
		}
	}
	if !d.Answered {
		e.mu.Lock()
		e.stats.Lost++
		e.mu.Unlock()
	}
	return d, err
}

// deliver makes up to Attempts requests, the first with s, the retries
// re-sealed from r. It stops at the first 200.
func (e *Emitter) deliver(ctx context.Context, body []byte, s callback.Sealed, r *rand.Rand) (answered bool, requests int, err error) {
	for attempt := 1; attempt <= e.o.Attempts; attempt++ {
		if attempt > 1 {
			if err := wait(ctx, e.o.RetryDelay); err != nil {
				return false, requests, err
			}
			if s, err = e.seal(body, r); err != nil {
				return false, requests, err
			}
		}
		ok := e.post(ctx, s)
		if ctx.Err() != nil {
			return false, requests, ctx.Err()
		}
		requests++
		e.mu.Lock()
		e.stats.Sent++
		if attempt > 1 {
			e.stats.Retried++
		}
		if ok {
			e.stats.Answered++
		} else {
			e.stats.Failed++
		}
		e.mu.Unlock()
		if ok {
			return true, requests, nil
		}
	}
	return false, requests, nil
}

// post makes one delivery and reports whether it was answered 200 within
// the timeout.
func (e *Emitter) post(ctx context.Context, s callback.Sealed) bool {
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	q := url.Values{"msg_signature": {s.Signature}, "timestamp": {s.Timestamp}, "nonce": {s.Nonce}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint+"?"+q.Encode(), bytes.NewReader(s.Body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := e.o.Client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	// The answer counts once it is read in time; its content does not
	// matter (an empty 200 is accepted).
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return err == nil && resp.StatusCode == http.StatusOK
}

// seal encrypts body for a new delivery: timestamp from Now, a 10-digit
// nonce and the random prefix from r.
func (e *Emitter) seal(body []byte, r *rand.Rand) (callback.Sealed, error) {
	ts := strconv.FormatInt(e.o.Now().Unix(), 10)
	nonce := strconv.FormatUint(1_000_000_000+r.Uint64N(9_000_000_000), 10)
	s, err := e.o.Crypto.Seal(body, ts, nonce, randReader{r})
	if err != nil {
		return callback.Sealed{}, fmt.Errorf("standin: seal: %w", err)
	}
	return s, nil
}

// VerifyURL performs WeCom's URL check: a GET with msg_signature,
// timestamp, nonce and echostr (a sealed random number), which must be
// answered 200 within VerifyTimeout with the bare plaintext — no quotes,
// BOM or newline. Failures wrap ErrVerify; the context's errors are
// returned as they are.
func (e *Emitter) VerifyURL(ctx context.Context) error {
	e.mu.Lock()
	plain := strconv.FormatUint(e.rand.Uint64N(1e19), 10)
	r := rand.New(rand.NewPCG(e.rand.Uint64(), e.rand.Uint64()))
	e.mu.Unlock()
	s, err := e.seal([]byte(plain), r)
	if err != nil {
		return err
	}
	q := url.Values{"msg_signature": {s.Signature}, "timestamp": {s.Timestamp}, "nonce": {s.Nonce}, "echostr": {s.Encrypt}}
	vctx, cancel := context.WithTimeout(ctx, e.o.VerifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(vctx, http.MethodGet, e.endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	resp, err := e.o.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: no answer within %v", ErrVerify, e.o.VerifyTimeout)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	switch {
	case err != nil:
		return fmt.Errorf("%w: reading the answer: %w", ErrVerify, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: status %d", ErrVerify, resp.StatusCode)
	case string(got) != plain:
		return fmt.Errorf("%w: the answer (%d bytes) is not the bare echostr plaintext (%d bytes)", ErrVerify, len(got), len(plain))
	}
	return nil
}

// randReader reads bytes from a *rand.Rand, for Seal's random prefix.
type randReader struct{ r *rand.Rand }

func (rr randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(rr.r.Uint32())
	}
	return len(p), nil
}

func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
