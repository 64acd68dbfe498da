// Package kurrent is custody's event log on KurrentDB (EventStoreDB),
// through the official gRPC client github.com/EventStore/EventStore-Client-Go/v4
// (package esdb). It implements eventlog.EventLog and eventlog.Eraser.
//
// Mapping:
//
//   - A custody stream is a KurrentDB stream of the same name (behind
//     Options.Namespace, when set); its 0-based StreamVersion is the
//     KurrentDB stream revision.
//   - events.Position is the event's $all position: Commit and Prepare are
//     the commit and prepare positions KurrentDB reports.
//   - ExpectedVersion maps to esdb.Revision(v), esdb.NoStream{},
//     esdb.StreamExists{} or esdb.Any{}; a WrongExpectedVersion answer
//     becomes a *eventlog.ConflictError.
//   - Event ids are passed through, so the server's idempotent-write check
//     applies. KurrentDB only guarantees it for a non-Any expectation, so
//     by default (see Options.DisableResolveAny) Any and StreamExists
//     appends first read the stream's tail and are sent with the exact
//     revision found: a retry of an append whose events are the stream's
//     newest ones returns the originals, and a racing writer makes the
//     server refuse rather than interleave (the append is then tried
//     again). After a WrongExpectedVersion the stream is scanned for the
//     ids, so a retry with a stale exact expectation also returns the
//     originals. Ids are not unique across streams on KurrentDB, and an Any
//     retry after other writes to the stream writes the events again: see
//     docs/kurrentdb.md.
//   - The event's data is the payload JSON (content type application/json)
//     and its type the catalog's dotted name; everything else of the
//     envelope travels in the event's JSON metadata (see envelope.go),
//     including the personal data, sealed with adapters/eventlog/pii exactly as on
//     PostgreSQL. The key store stays wherever the Keyring keeps it
//     (PostgreSQL in production): erasure destroys the key there, and the
//     sealed bytes stored in KurrentDB become unreadable.
//   - ReadAll, Head and Subscribe cover $all restricted to custody's streams
//     (events.StreamPrefixes); system events and other applications'
//     streams are skipped.
//
// Client traps this package works around (v4.2.0): the client marks itself
// closed for good when the first connection attempt fails, so the adapter
// builds a new client when that happens; subscriptions are not resumed by
// the client, so Subscribe resubscribes from the last delivered position; a
// read of $all from a position includes the event at that position while a
// subscription starts after it.
package kurrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

var (
	_ eventlog.EventLog = (*Log)(nil)
	_ eventlog.Eraser   = (*Log)(nil)
)

// Options configure a Log.
type Options struct {
	// Keyring seals and opens personal data. Required: use the same
	// keyring (and so the same key store) as every other custody component.
	Keyring *pii.Keyring
	// Logger receives the adapter's and the client's diagnostics (never
	// personal data). Default slog.Default().
	Logger *slog.Logger
	// Namespace is prepended to every stream name on the server, so that
	// several custody deployments (or test runs) can share one KurrentDB
	// without seeing each other's events: custody's "customer-x" is stored
	// as Namespace+"customer-x", and only streams inside the namespace are
	// read back. Default "" (custody's streams under their own names).
	Namespace string
	// StreamPrefixes are the (namespace-relative) stream prefixes ReadAll,
	// Head and Subscribe deliver. Default events.StreamPrefixes; a single
	// "" delivers every stream in the namespace. Streams starting with "$"
	// (KurrentDB's system streams) are never delivered.
	StreamPrefixes []string
	// PageSize is how many events one read asks the server for. Default 512.
	PageSize int
	// DisableResolveAny sends Any and StreamExists appends as esdb.Any{} and
	// esdb.StreamExists{}, relying on the server's best-effort
	// deduplication only. By default they first read the stream's tail and
	// are sent with the exact revision found (see the package comment).
	DisableResolveAny bool
	// MaxAnyRetries bounds how often an Any append whose tail read was
	// overtaken by another writer is tried again. Every round some writer
	// wins, so this only bounds starvation under heavy contention on one
	// stream. Default 1000.
	MaxAnyRetries int
	// CallTimeout bounds how long one call to the server (a read page, an
	// append, starting a subscription) may take before the log reports
	// eventlog.ErrUnavailable; the caller's context may end it sooner.
	// Default 5s.
	CallTimeout time.Duration
	// ResubscribeMin and ResubscribeMax bound the wait before Subscribe
	// resubscribes after the server dropped the subscription (doubling
	// from min to max). Defaults 50ms and 5s.
	ResubscribeMin, ResubscribeMax time.Duration
	// RetryWait is the pause before a call is tried again after the
	// connection failed during it or the node was not the leader (at most
	// five times; the first "not leader" answer is retried at once, on
	// the leader it named). Default 100ms.
	RetryWait time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StreamPrefixes == nil {
		o.StreamPrefixes = events.StreamPrefixes
	}
	if o.PageSize == 0 {
		o.PageSize = 512
	}
	if o.MaxAnyRetries == 0 {
		o.MaxAnyRetries = 1000
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.ResubscribeMin == 0 {
		o.ResubscribeMin = 50 * time.Millisecond
	}
	if o.ResubscribeMax == 0 {
		o.ResubscribeMax = 5 * time.Second
	}
	if o.RetryWait == 0 {
		o.RetryWait = 100 * time.Millisecond
	}
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.Keyring == nil {
		errs = append(errs, errors.New("kurrent: Options.Keyring is required"))
	}
	if len(o.StreamPrefixes) == 0 {
		errs = append(errs, errors.New("kurrent: StreamPrefixes is empty"))
	}
	if strings.HasPrefix(o.Namespace, "$") {
		errs = append(errs, fmt.Errorf("kurrent: Namespace %q would put custody's streams among KurrentDB's system streams", o.Namespace))
	}
	if o.PageSize < 1 {
		errs = append(errs, fmt.Errorf("kurrent: PageSize %d < 1", o.PageSize))
	}
	if o.MaxAnyRetries < 1 {
		errs = append(errs, fmt.Errorf("kurrent: MaxAnyRetries %d < 1", o.MaxAnyRetries))
	}
	if o.RetryWait < 0 {
		errs = append(errs, fmt.Errorf("kurrent: RetryWait %v < 0", o.RetryWait))
	}
	if o.ResubscribeMin <= 0 || o.ResubscribeMax < o.ResubscribeMin {
		errs = append(errs, fmt.Errorf("kurrent: resubscribe wait %v..%v is not a valid range", o.ResubscribeMin, o.ResubscribeMax))
	}
	return errors.Join(errs...)
}

// Log is the KurrentDB event log. Safe for concurrent use.
type Log struct {
	opts Options
	conf esdb.Configuration

	mu     sync.Mutex
	client *clientRef
	closed bool
	done   chan struct{} // closed by Close: ends subscriptions
}

// clientRef counts the goroutines using one esdb client. The client must
// not be closed while a call is in flight or about to start on it (the
// v4.2.0 client then panics with "send on closed channel"), so a client
// replaced by renew, or the last one at Close, is closed by whoever stops
// using it last.
//
// A call that got no answer within CallTimeout is left running on its own
// goroutine (the client's calls cannot all be cancelled: one waiting for a
// connection while the client discovers the server ignores its context).
// While such a call is stuck, the client is presumed unreachable: at most
// one further call at a time probes it, the others fail at once with
// eventlog.ErrUnavailable, so a long outage costs neither time per command
// nor a goroutine per call.
type clientRef struct {
	c       *esdb.Client
	users   int
	retired bool
	stuck   int  // calls abandoned and still running
	probing bool // a call is under way while stuck > 0
}

// ConnectionString turns a custody event-log URL into the client's
// connection string: kurrentdb://… and kurrentdb+discover://… become
// esdb://… and esdb+discover://…; esdb URLs pass unchanged.
func ConnectionString(u string) (string, error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		// The URL is not echoed: it may hold a password.
		return "", errors.New("kurrent: the event log URL has no scheme (want kurrentdb://host:port?tls=false or esdb://…)")
	}
	switch strings.ToLower(scheme) {
	case "kurrentdb", "esdb":
		return "esdb://" + rest, nil
	case "kurrentdb+discover", "esdb+discover":
		return "esdb+discover://" + rest, nil
	}
	return "", errors.New("kurrent: unsupported event log URL scheme (want kurrentdb, kurrentdb+discover, esdb or esdb+discover)")
}

// redact hides a password in a connection string for error messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	return p.Redacted()
}

// Open connects to the KurrentDB server or cluster named by rawURL (see
// ConnectionString) and checks that it answers.
func Open(ctx context.Context, rawURL string, opts Options) (*Log, error) {
	cs, err := ConnectionString(rawURL)
	if err != nil {
		return nil, err
	}
	conf, err := esdb.ParseConnectionString(cs)
	if err != nil {
		// The client's parse errors may quote the URL, password included.
		msg := err.Error()
		if p, perr := url.Parse(cs); perr == nil && p.User != nil {
			if pw, ok := p.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
		return nil, fmt.Errorf("kurrent: connection string %s: %s", redact(rawURL), msg)
	}
	l, err := New(*conf, opts)
	if err != nil {
		return nil, err
	}
	// One record of $all proves the server answers and lets this user read
	// $all; Head could scan far on a server full of other streams.
	if _, err := l.readAllRaw(ctx, esdb.Backwards, esdb.End{}, 1); err != nil {
		l.Close()
		return nil, fmt.Errorf("kurrent: %s does not answer: %w", redact(rawURL), err)
	}
	return l, nil
}

// New returns a Log over a client built from conf. It does not connect:
// the client connects on first use.
func New(conf esdb.Configuration, opts Options) (*Log, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger.With("component", "esdb")
	conf.Logger = func(level esdb.LogLevel, format string, args ...any) {
		// The client's messages carry error texts and addresses, never
		// event data; they are debug noise unless something goes wrong,
		// which the adapter reports itself.
		logger.Debug(fmt.Sprintf(format, args...), "level", level)
	}
	l := &Log{opts: opts, conf: conf, done: make(chan struct{})}
	c, err := esdb.NewClient(&l.conf)
	if err != nil {
		return nil, fmt.Errorf("kurrent: client: %w", err)
	}
	l.client = &clientRef{c: c}
	return l, nil
}

// Close closes the connection. Calls after Close return eventlog.ErrClosed;
// subscriptions end with it; calls in flight finish (or fail) first, then
// the client is closed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	r := l.client
	r.retired = true
	idle := r.users == 0
	l.mu.Unlock()
	if idle {
		return r.c.Close()
	}
	return nil
}

// Erase implements eventlog.Eraser by destroying the subject's key in the
// keyring; events in KurrentDB keep their sealed bytes, now unreadable,
// and read back with PIIErased.
func (l *Log) Erase(ctx context.Context, subject string) error {
	if err := l.opts.Keyring.Erase(ctx, subject); err != nil {
		return fmt.Errorf("kurrent: %w", err)
	}
	return nil
}

// serverStream is the name custody's stream has on the server.
func (l *Log) serverStream(stream string) string { return l.opts.Namespace + stream }

// custodyStream is the custody name of a server stream, and whether it is
// one ReadAll, Head and Subscribe deliver.
func (l *Log) custodyStream(name string) (string, bool) {
	if !strings.HasPrefix(name, l.opts.Namespace) {
		return "", false
	}
	s := name[len(l.opts.Namespace):]
	if s == "" || s[0] == '$' {
		return "", false
	}
	for _, p := range l.opts.StreamPrefixes {
		if strings.HasPrefix(s, p) {
			return s, true
		}
	}
	return "", false
}

// filterPrefixes are the server-side subscription filter's prefixes.
func (l *Log) filterPrefixes() []string {
	out := make([]string, len(l.opts.StreamPrefixes))
	for i, p := range l.opts.StreamPrefixes {
		out[i] = l.opts.Namespace + p
	}
	return out
}

// errUnreachable: the client still has a call stuck waiting for the
// server, and another call is already probing it.
var errUnreachable = errors.New("kurrent: server not answering (an earlier call is still waiting for it)")

// acquire returns the current client for one call; release it after.
// probe reports that the call is the one allowed while calls are stuck.
func (l *Log) acquire() (r *clientRef, probe bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false, eventlog.ErrClosed
	}
	r = l.client
	if r.stuck > 0 {
		if r.probing {
			return nil, false, fmt.Errorf("%w: %w", eventlog.ErrUnavailable, errUnreachable)
		}
		r.probing, probe = true, true
	}
	r.users++
	return r, probe, nil
}

// release ends one call's use of r, closing r's client when it was
// replaced (or the log closed) and this was its last user.
func (l *Log) release(r *clientRef, probe, abandoned bool) {
	l.mu.Lock()
	r.users--
	if probe {
		r.probing = false
	}
	if abandoned {
		r.stuck--
	}
	last := r.retired && r.users == 0
	l.mu.Unlock()
	if last {
		_ = r.c.Close()
	}
}

// errNoAnswer: call gave up waiting for op.
var errNoAnswer = errors.New("kurrent: no answer from the server in time")

// call runs op on its own goroutine and waits for it until wait ends. A
// call given up on keeps running and releases r itself; r counts it as
// stuck until it returns when the server did not answer in time, that is
// when wait ended while the caller's own context (caller) still runs — a
// caller that went away says nothing about the server.
func (l *Log) call(wait, caller context.Context, r *clientRef, probe bool, op func(c *esdb.Client) error) error {
	var (
		mu                         sync.Mutex
		finished, abandoned, stuck bool
	)
	done := make(chan error, 1)
	go func() {
		err := op(r.c)
		mu.Lock()
		finished = true
		counted := stuck
		mu.Unlock()
		l.release(r, probe, counted)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-wait.Done():
	}
	mu.Lock()
	if !finished {
		abandoned = true
		if caller.Err() == nil {
			stuck = true
			l.mu.Lock()
			r.stuck++
			l.mu.Unlock()
		}
	}
	mu.Unlock()
	if !abandoned {
		return <-done
	}
	return errNoAnswer
}

// renew replaces r when the client gave up on its connection for good (it
// does so when discovery fails, e.g. while the server restarts) and r is
// still current. The caller still holds r; r's client is closed when its
// last user releases it.
func (l *Log) renew(r *clientRef) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return eventlog.ErrClosed
	}
	if l.client != r {
		return nil
	}
	fresh, err := esdb.NewClient(&l.conf)
	if err != nil {
		return fmt.Errorf("kurrent: client: %w", err)
	}
	r.retired = true
	l.client = &clientRef{c: fresh}
	l.opts.Logger.Warn("kurrent: connection lost for good by the client; built a new one")
	return nil
}

// do runs op with the current client, at most CallTimeout (op gets a
// context that ends then), once more with a new client when the old one
// declared its connection closed, and again when the node answered that
// it is not the leader (the client has then reconnected to the leader it
// named) or the connection failed during the call (a leader dying; the
// client reconnects) — up to maxRetries times, RetryWait apart. Every
// operation of this package is safe to repeat: appends carry an exact
// expected revision or are checked for their ids before they are sent
// again.
func (l *Log) do(ctx context.Context, op func(ctx context.Context, c *esdb.Client) error) error {
	retries := 0
	for attempt := 0; ; attempt++ {
		r, probe, err := l.acquire()
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, l.opts.CallTimeout)
		err = l.call(cctx, ctx, r, probe, func(c *esdb.Client) error { return op(cctx, c) })
		cancel()
		if errors.Is(err, errNoAnswer) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %w (%s)", eventlog.ErrUnavailable, err, l.opts.CallTimeout)
		}
		if attempt == 0 && code(err) == esdb.ErrorCodeConnectionClosed {
			if rerr := l.renew(r); rerr != nil {
				return rerr
			}
			continue
		}
		if retries < maxRetries && transient(err) && ctx.Err() == nil {
			retries++
			// A "not leader" answer came with the leader's address, which
			// the client connects to now: try there at once, the first time.
			if retries > 1 || code(err) != esdb.ErrorCodeNotLeader {
				t := time.NewTimer(l.opts.RetryWait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
			continue
		}
		return unavailable(err)
	}
}

// maxRetries bounds the retries of one call on a leader change or a
// connection lost during it.
const maxRetries = 5

// transient reports an error worth another try (the caller's context
// still running): the node is not the leader (the client reconnected to
// the leader), the server became unavailable during the call, or the
// client closed the connection the call was on because another call made
// it reconnect (gRPC Canceled, "the client connection is closing").
func transient(err error) bool {
	switch code(err) {
	case esdb.ErrorCodeNotLeader, esdb.ErrorUnavailable:
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return true
	}
	// The call's stream ended under it (the connection closed while the
	// request was being sent).
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// unavailable translates the client's "cannot reach the cluster" errors
// (gRPC Unavailable or DeadlineExceeded, a connection still closed after
// renewing it) into eventlog.ErrUnavailable, keeping err in the chain.
// Callers that check their own context first still return its error.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	switch code(err) {
	case esdb.ErrorUnavailable, esdb.ErrorCodeDeadlineExceeded, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeNotLeader:
		return fmt.Errorf("%w: %w", eventlog.ErrUnavailable, err)
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("%w: %w", eventlog.ErrUnavailable, err)
	}
	return err
}

// code is the esdb error code in err's chain, or -1.
func code(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}
