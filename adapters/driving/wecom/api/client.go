// Package api is custody's client of WeCom's (企业微信) HTTP API for
// customer contact: the details callbacks do not carry, the lists
// reconciliation compares, and the handovers custody carries out.
//
// One Client serves one corp (one app secret). It caches the access token
// until shortly before it expires and fetches it once for all concurrent
// callers (fetching it again, once per call, when WeCom refuses it early:
// 40014, 42001, 40001); it keeps the corp's calls under a configurable
// rate, below WeCom's published limits (10,000 per minute and 150,000 per
// hour per corp and API); it retries transient failures (-1 busy, 45009,
// 45033, HTTP 5xx, network errors) with exponential backoff, bounded in
// attempts and time; every attempt has a timeout. Calls that start
// something in WeCom (transfer_customer) are retried only on failures
// that say WeCom did nothing (45009, 45033, a refused token).
//
// Errors are *Error or wrap one of the sentinel classes (ErrTransient,
// ErrNotFound, …). Neither errors nor metrics carry the access token or
// the app secret; nothing here logs. Answers are decoded tolerantly
// (unknown fields ignored, ids as strings even when sent as numbers) but
// an answer that is not WeCom's JSON is an error (ErrDecode), never a
// silently empty result.
//
// Clients caches one Client per custody corp, rebuilt when the corp's
// connection changes; Details implements ingest.Details with it.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/custody/custody/adapters/driving/wecom/connection"
)

// DefaultBaseURL is WeCom's API host.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

// Options configure a Client. The zero value is usable: every field has
// a default.
type Options struct {
	// BaseURL is where /cgi-bin/ is served; default DefaultBaseURL (a
	// stand-in's httptest URL in tests).
	BaseURL string
	// HTTPClient makes the requests; default a client that follows no
	// redirects (WeCom sends none, and a redirect would carry the token
	// elsewhere).
	HTTPClient *http.Client
	// CallTimeout bounds each attempt (request and answer); default 10s.
	CallTimeout time.Duration
	// MaxAttempts bounds the attempts of one call, retries included;
	// default 4. A refetch of a refused token is one extra attempt, once.
	MaxAttempts int
	// BackoffBase is the wait before the first retry, doubling for each
	// further one up to BackoffMax, each drawn at random from its upper
	// half; defaults 250ms and 8s.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxElapsed bounds retrying: no retry starts when its wait would end
	// later than MaxElapsed after the call began; default 30s.
	MaxElapsed time.Duration
	// RatePerMinute is the corp's budget of API calls per minute through
	// this Client, all APIs together; default 2,400 (WeCom allows
	// 150,000 per hour, 2,500 a minute on average, per corp and API).
	// Give each custody instance its share.
	RatePerMinute int
	// Burst is how many calls may go at once before the rate applies;
	// default 40.
	Burst int
	// TokenMargin: a token is refetched this long before WeCom's
	// expires_in runs out; default 5 minutes.
	TokenMargin time.Duration
	// Metrics, when set, counts calls and limiter waits.
	Metrics *Metrics
	// Now and Sleep are the clock of the token cache, the rate limiter
	// and the backoff; defaults time.Now and a timer. Attempt timeouts
	// use real time.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *Options) setDefaults() {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.CallTimeout, 10*time.Second)
	def(&o.BackoffBase, 250*time.Millisecond)
	def(&o.BackoffMax, 8*time.Second)
	def(&o.MaxElapsed, 30*time.Second)
	def(&o.TokenMargin, 5*time.Minute)
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 4
	}
	if o.RatePerMinute == 0 {
		o.RatePerMinute = 2400
	}
	if o.Burst == 0 {
		o.Burst = 40
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
}

// Validate reports every problem of o (after defaults), joined; each
// wraps ErrInvalid.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		bad("base URL must be an http(s) URL without a query")
	}
	if o.CallTimeout < 0 || o.BackoffBase < 0 || o.BackoffMax < o.BackoffBase || o.MaxElapsed < 0 || o.TokenMargin < 0 {
		bad("durations must not be negative, and BackoffMax not below BackoffBase")
	}
	if o.MaxAttempts < 1 {
		bad("MaxAttempts must be at least 1")
	}
	if o.RatePerMinute < 1 || o.Burst < 1 {
		bad("RatePerMinute and Burst must be at least 1")
	}
	return errors.Join(errs...)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Client calls WeCom's API for one corp. It is safe for concurrent use.
type Client struct {
	corpID, secret string
	o              Options
	limiter        *rate.Limiter

	tokenMu      sync.Mutex
	token        string
	tokenExpires time.Time
	tokenFlight  singleflight.Group
}

// New returns a client for WeCom corp corpID with the app's secret.
func New(corpID, secret string, o Options) (*Client, error) {
	o.setDefaults()
	err := o.Validate()
	if corpID == "" {
		err = errors.Join(err, fmt.Errorf("%w: empty corpid", ErrInvalid))
	}
	if secret == "" {
		err = errors.Join(err, ErrNoSecret)
	}
	if err != nil {
		return nil, err
	}
	return &Client{
		corpID: corpID, secret: secret, o: o,
		limiter: rate.NewLimiter(rate.Limit(float64(o.RatePerMinute)/60), o.Burst),
	}, nil
}

// FromConnection returns a client for the connection's WeCom corp and app
// secret (ErrNoSecret when it has none).
func FromConnection(c connection.Connection, o Options) (*Client, error) {
	return New(c.WeComCorpID, c.Secret, o)
}

// request is one API call.
type request struct {
	api    string // path after /cgi-bin/
	method string
	query  url.Values // without access_token
	body   any        // JSON body of POST requests
	// starts: the call starts something in WeCom; retried only when
	// WeCom certainly did nothing.
	starts bool
	// anonymous: no access token (gettoken), no rate limiter.
	anonymous bool
}

// do makes the call with the token, the limiter and the retry policy,
// decoding the answer into out.
func (c *Client) do(ctx context.Context, r request, out any) error {
	start := c.o.Now()
	refetched := false
	var b *backoff.ExponentialBackOff
	for attempt := 1; ; attempt++ {
		var tok string
		if !r.anonymous {
			var err error
			if tok, err = c.accessToken(ctx); err != nil {
				return err
			}
			if err := c.wait(ctx); err != nil {
				return fmt.Errorf("wecom api %s: waiting for the rate limiter: %w", r.api, err)
			}
		}
		err := c.attempt(ctx, r, tok, out)
		c.o.Metrics.call(r.api, err)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("wecom api %s: %w (last failure: %w)", r.api, ctx.Err(), err)
		case errors.Is(err, ErrTokenRejected) && !refetched:
			refetched = true
			if _, err := c.refreshToken(ctx, tok); err != nil {
				return err
			}
			attempt--
			continue
		case !c.retryable(r, err) || attempt >= c.o.MaxAttempts:
			return err
		}
		if b == nil {
			b = c.newBackoff()
		}
		d := b.NextBackOff()
		if c.o.Now().Add(d).Sub(start) > c.o.MaxElapsed {
			return err
		}
		if serr := c.o.Sleep(ctx, d); serr != nil {
			return fmt.Errorf("wecom api %s: %w (last failure: %w)", r.api, serr, err)
		}
	}
}

func (c *Client) retryable(r request, err error) bool {
	if r.starts {
		return errors.Is(err, ErrRateLimited)
	}
	return errors.Is(err, ErrTransient)
}

// newBackoff gives the waits after each failure: BackoffBase doubling up
// to BackoffMax, each drawn from the upper half (±1/3 around 3/4 of it) so
// that concurrent callers spread out.
func (c *Client) newBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: c.o.BackoffBase * 3 / 4, RandomizationFactor: 1.0 / 3, Multiplier: 2,
		MaxInterval: c.o.BackoffMax * 3 / 4,
	}
}

// wait takes one call from the corp's budget, sleeping when it is spent.
func (c *Client) wait(ctx context.Context) error {
	now := c.o.Now()
	res := c.limiter.ReserveN(now, 1)
	d := res.DelayFrom(now)
	c.o.Metrics.waited(d)
	if d <= 0 {
		return nil
	}
	if err := c.o.Sleep(ctx, d); err != nil {
		res.CancelAt(c.o.Now())
		return err
	}
	return nil
}

// attempt makes one HTTP request.
func (c *Client) attempt(ctx context.Context, r request, tok string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
	defer cancel()
	q := url.Values{}
	for k, v := range r.query {
		q[k] = v
	}
	if tok != "" {
		q.Set("access_token", tok)
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("wecom api %s: encode request: %w: %w", r.api, ErrInvalid, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.o.BaseURL+"/cgi-bin/"+r.api+"?"+q.Encode(), body)
	if err != nil {
		return networkError(r.api, err, c.secrets(tok))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return networkError(r.api, err, c.secrets(tok))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return &Error{API: r.api, HTTPStatus: resp.StatusCode, Msg: http.StatusText(resp.StatusCode)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return networkError(r.api, err, c.secrets(tok))
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("wecom api %s: answer larger than %d bytes: %w", r.api, maxAnswer, ErrDecode)
	}
	return decodeAnswer(r.api, b, out)
}

func (c *Client) secrets(tok string) redactor { return redactor{tok, c.secret} }
