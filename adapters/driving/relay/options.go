package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/custody/custody/events/eventlog"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultTopicPrefix starts every default topic name: "custody.customer",
// "custody.handover", ...
const DefaultTopicPrefix = "custody"

// InProcessURL is the URL of the in-process gochannel broker, the embedded
// default route's destination.
const InProcessURL = "gochannel:"

// DefaultRoute is the route a relay runs when Options.Routes is empty:
// every event, without personal data, to the in-process gochannel (see
// Relay.InProcess) under the default topics.
var DefaultRoute = Route{Name: "default", URL: InProcessURL}

// Route is one destination of the relay with its own checkpoint.
type Route struct {
	// Name identifies the route's checkpoint; required, unique in a relay.
	// Renaming a route starts it from the beginning of the log.
	Name string
	// URL selects the broker: gochannel:, nats://host:4222,
	// amqp://user:pass@host:5672/vhost, redis://host:6379/0,
	// postgres://user:pass@host/db, kafka://host1:9092,host2:9092.
	URL string
	// Publisher, when set, is used instead of connecting to URL. The relay
	// never closes it. URL then only names the destination in logs.
	Publisher message.Publisher
	// TopicPrefix starts the default topic names; DefaultTopicPrefix when
	// empty. An event goes to "<prefix>.<category>", the category being the
	// part of its type before the first dot ("customer", "handover",
	// "staff", "groupchat", "moments", "consent").
	TopicPrefix string
	// Topics overrides topic names. Keys are an exact event type
	// ("handover.requested"), a category ("handover") or "*" (everything
	// else), tried in that order.
	Topics map[string]string
	// Corps, when not empty, publishes only events of these corps.
	Corps []string
	// Types, when not empty, publishes only events whose type is listed or
	// whose category is listed as "<category>.*" or "<category>".
	Types []string
	// IncludePII publishes personal data (names, remarks, phones,
	// nicknames) under data.pii. Off by default: consumers get pseudonymous
	// ids only.
	IncludePII bool
}

// Topic is the topic the route publishes events of type eventType to.
func (r Route) Topic(eventType string) string {
	if t, ok := r.Topics[eventType]; ok {
		return t
	}
	cat := category(eventType)
	if t, ok := r.Topics[cat]; ok {
		return t
	}
	if t, ok := r.Topics["*"]; ok {
		return t
	}
	prefix := r.TopicPrefix
	if prefix == "" {
		prefix = DefaultTopicPrefix
	}
	return prefix + "." + cat
}

// accepts reports whether the route publishes an event of corp and type t.
func (r Route) accepts(corp, t string) bool {
	if len(r.Corps) > 0 && !contains(r.Corps, corp) {
		return false
	}
	if len(r.Types) == 0 {
		return true
	}
	cat := category(t)
	for _, want := range r.Types {
		if want == t || want == cat || want == cat+".*" {
			return true
		}
	}
	return false
}

func category(eventType string) string {
	if i := strings.IndexByte(eventType, '.'); i > 0 {
		return eventType[:i]
	}
	return eventType
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r Route) validate() error {
	var errs []error
	if r.Name == "" {
		errs = append(errs, errors.New("route name is empty"))
	}
	if r.Publisher == nil {
		if _, err := scheme(r.URL); err != nil {
			errs = append(errs, fmt.Errorf("route %q: %w", r.Name, err))
		}
	}
	for k, v := range r.Topics {
		if v == "" {
			errs = append(errs, fmt.Errorf("route %q: topic for %q is empty", r.Name, k))
		}
	}
	return errors.Join(errs...)
}

// scheme returns the broker kind of a route URL.
func scheme(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid broker URL: %w", errRedacted(err))
	}
	switch s := strings.ToLower(u.Scheme); s {
	case "gochannel", "nats", "amqp", "amqps", "redis", "rediss", "postgres", "postgresql", "kafka":
		return s, nil
	case "":
		return "", errors.New("broker URL has no scheme")
	default:
		return "", fmt.Errorf("unsupported broker URL scheme %q (want gochannel, nats, amqp, redis, postgres or kafka)", s)
	}
}

// errRedacted drops the URL (and with it any password) from a url.Error.
func errRedacted(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Options configure a Relay.
type Options struct {
	// Log is the event log the relay follows. Required.
	Log eventlog.EventLog
	// Pool is the PostgreSQL database holding relay_checkpoints (see
	// Migrate). Required.
	Pool *pgxpool.Pool
	// Routes are the destinations; []Route{DefaultRoute} when empty.
	Routes []Route
	// InProcess is the pub/sub behind gochannel: routes. New creates one
	// (and Run closes it) when nil.
	InProcess *gochannel.GoChannel
	// Registerer receives the relay's metrics (custody_relay_*); none are
	// registered when nil.
	Registerer prometheus.Registerer
	// Logger receives the relay's logs; slog.Default() when nil. Logs name
	// events by id, type and stream only — never personal data.
	Logger *slog.Logger
	// RetryMin and RetryMax bound the exponential backoff between attempts
	// to publish an event the broker did not acknowledge (defaults 100ms
	// and 10s).
	RetryMin, RetryMax time.Duration
	// Parallelism is how many streams a route publishes concurrently
	// (default 4). Each stream's events still go out one at a time in
	// stream order; with 1, all events go out in log order.
	Parallelism int
	// ReconnectAfter is the number of failed attempts after which the relay
	// drops its connection to the broker and dials again (default 3).
	ReconnectAfter int
	// CheckpointEvery saves the checkpoint after this many acknowledged
	// events (default 1000); CheckpointInterval saves it at least this often
	// while it moved (default 1s). Saving less often means more duplicates
	// after a crash, never a lost event.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// LagInterval is how often custody_relay_lag_seconds is measured
	// (default 5s).
	LagInterval time.Duration
	// Lease is how long a route's owner may start publishes after it last
	// saw its lock connection alive (default 500ms). The owner checks that
	// connection every Lease/5; a publish started within the lease must end
	// within HandoffWait−Lease−100ms after it. An owner that lost its lock
	// connection (a database restart, a proxy, an idle-connection killer)
	// stops, saves its checkpoint and releases the route; its successor
	// waits for that release (at most HandoffWait), so no event is
	// published by two instances and every stream stays in order. Failover
	// takes about LockPoll after a release, HandoffWait after a crash.
	Lease time.Duration
	// LockPoll is how often a standby asks for a route's lock (default
	// 100ms).
	LockPoll time.Duration
	// HandoffWait bounds how long a new owner waits for the previous one
	// to release the route (stop publishing, save its checkpoint) when the
	// previous one lost its lock without releasing (default 1s; at least
	// Lease). An owner that was killed never releases: its successor starts
	// after HandoffWait and publishes again what came after the last saved
	// checkpoint (at-least-once); a live owner that only lost its lock
	// connection releases within about Lease, and nothing is published
	// twice.
	HandoffWait time.Duration
	// Instance names this process in relay_owners and logs (default
	// hostname:pid).
	Instance string
}

func (o *Options) setDefaults() {
	if len(o.Routes) == 0 {
		o.Routes = []Route{DefaultRoute}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = o.RetryMin
	}
	if o.Parallelism <= 0 {
		o.Parallelism = 4
	}
	if o.ReconnectAfter <= 0 {
		o.ReconnectAfter = 3
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 1000
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.LagInterval <= 0 {
		o.LagInterval = 5 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 500 * time.Millisecond
	}
	if o.LockPoll <= 0 {
		o.LockPoll = 100 * time.Millisecond
	}
	if o.HandoffWait <= 0 {
		o.HandoffWait = time.Second
	}
	if o.Instance == "" {
		o.Instance = defaultInstance()
	}
}

// defaultInstance is hostname:pid.
func defaultInstance() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	if o.Log == nil {
		errs = append(errs, errors.New("relay: Log is nil"))
	}
	if o.Pool == nil {
		errs = append(errs, errors.New("relay: Pool is nil (checkpoints live in PostgreSQL)"))
	}
	seen := map[string]bool{}
	for _, r := range o.Routes {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("relay: %w", err))
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("relay: route name %q used twice", r.Name))
		}
		seen[r.Name] = true
	}
	return errors.Join(errs...)
}
