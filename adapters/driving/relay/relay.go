package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/events"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrAlreadyRun is returned by a second call of Run.
var ErrAlreadyRun = errors.New("relay: Run called twice")

// Relay publishes the event log to its routes. Build it with New, start it
// with Run; Status is safe to call concurrently.
type Relay struct {
	opts        Options
	metrics     *metrics
	inproc      *gochannel.GoChannel
	ownInproc   bool
	routes      []*route
	wmLogger    watermill.LoggerAdapter
	checkpoints checkpoints
	runOnce     sync.Once
}

// New validates opts and builds a relay. It connects to nothing yet: Run
// does, and keeps retrying while a broker or the database is unreachable.
func New(opts Options) (*Relay, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("relay: register metrics: %w", err)
	}
	r := &Relay{
		opts:    opts,
		metrics: m,
		inproc:  opts.InProcess,
		// watermill narrates connections and channels at info level;
		// that is debug detail for custody's operators.
		wmLogger: watermill.NewSlogLoggerWithLevelMapping(opts.Logger.With("component", "watermill"),
			map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}),
		checkpoints: checkpoints{opts.Pool},
	}
	if r.inproc == nil {
		r.inproc = gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, r.wmLogger)
		r.ownInproc = true
	}
	for _, rc := range opts.Routes {
		r.routes = append(r.routes, &route{
			relay:      r,
			cfg:        rc,
			logger:     opts.Logger.With("route", rc.Name, "broker", redactURL(rc.URL)),
			publishedC: m.published.WithLabelValues(rc.Name),
			retriesC:   m.retries.WithLabelValues(rc.Name),
			takeovers:  m.takeovers.WithLabelValues(rc.Name),
		})
	}
	return r, nil
}

// InProcess is the in-process pub/sub that gochannel: routes publish to.
// Subscribe to a route's topic on it to receive events inside this process;
// while a subscriber is attached, Publish waits for its Ack, so the route's
// checkpoint moves only past events an in-process subscriber acknowledged.
// With no subscriber attached, events pass by unseen.
func (r *Relay) InProcess() *gochannel.GoChannel { return r.inproc }

// Run follows the log and publishes until ctx is done, then saves every
// route's checkpoint, closes the connections it opened and returns nil.
// Broker and database failures are logged and retried, never returned.
func (r *Relay) Run(ctx context.Context) error {
	first := false
	r.runOnce.Do(func() { first = true })
	if !first {
		return ErrAlreadyRun
	}
	var wg sync.WaitGroup
	for _, rt := range r.routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt.run(ctx)
		}()
	}
	wg.Wait()
	if r.ownInproc {
		if err := r.inproc.Close(); err != nil {
			r.opts.Logger.Warn("relay: close in-process pub/sub", "err", err)
		}
	}
	return nil
}

// RouteStatus describes one route for health endpoints.
type RouteStatus struct {
	Name string
	// Broker is the route's URL without its password.
	Broker string
	// Position is the newest log position the broker acknowledged (or that
	// the route filtered out) in this process.
	Position events.Position
	// Published counts events acknowledged in this process.
	Published int64
	// Running reports that the route holds its lock and follows the log.
	Running bool
	// Instance is this process's name (Options.Instance); OwnedSince is
	// when it took the route over (zero while another process owns it).
	Instance   string
	OwnedSince time.Time
	// LastError is the latest failure, empty after a success.
	LastError string
}

// Status reports every route.
func (r *Relay) Status() []RouteStatus {
	out := make([]RouteStatus, 0, len(r.routes))
	for _, rt := range r.routes {
		rt.mu.Lock()
		out = append(out, RouteStatus{
			Name:       rt.cfg.Name,
			Broker:     redactURL(rt.cfg.URL),
			Position:   rt.acked,
			Published:  rt.published,
			Running:    rt.running,
			LastError:  rt.lastErr,
			Instance:   r.opts.Instance,
			OwnedSince: rt.ownedSinceIfRunning(),
		})
		rt.mu.Unlock()
	}
	return out
}

// route is one Route at run time. mu guards the fields the checkpoint
// saver and Status read.
type route struct {
	relay  *Relay
	cfg    Route
	logger *slog.Logger

	publishedC prometheus.Counter
	retriesC   prometheus.Counter
	takeovers  prometheus.Counter

	lease atomic.Pointer[lease] // set while the route may publish

	pubMu    sync.Mutex // guards the publisher, shared by the workers
	pub      message.Publisher
	ownPub   bool
	failures int // failed publishes in a row

	saveMu sync.Mutex // serialises checkpoint writes

	mu        sync.Mutex
	acked     events.Position
	saved     events.Position
	unsaved   int   // events passed (published or filtered out) since the last save
	unsavedPb int64 // of which published
	published int64 // acknowledged in this process
	running   bool
	lastErr   string
	// ownedSince is when this process last took the route over.
	ownedSince time.Time
	// skip holds positions after acked that were published already: by
	// the previous owner (loaded with the checkpoint) or by this session's
	// parallel publishers before it stopped. They are saved with the
	// checkpoint and never published again.
	skip map[events.Position]bool
}

// ownedSinceIfRunning is ownedSince while the route runs here. rt.mu held.
func (rt *route) ownedSinceIfRunning() time.Time {
	if !rt.running {
		return time.Time{}
	}
	return rt.ownedSince
}

// run keeps a session going until ctx is done.
func (rt *route) run(ctx context.Context) {
	defer rt.closePublisher()
	b := rt.newBackoff()
	for ctx.Err() == nil {
		err := rt.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			b.Reset()
			continue
		}
		rt.setErr(err)
		rt.logger.Error("relay: route stopped, restarting", "err", err)
		if !sleep(ctx, b.NextBackOff()) {
			return
		}
	}
}

// session takes the route's lock, follows the log from the stored
// checkpoint and returns when ctx is done or something failed.
func (rt *route) session(ctx context.Context) error {
	ls, release, err := rt.lock(ctx)
	if err != nil {
		return err
	}
	defer release()
	// The lease ends the session when the lock connection dies.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var keepWG sync.WaitGroup
	keepWG.Add(1)
	go func() {
		defer keepWG.Done()
		ls.keep(ctx, func(err error) {
			// No publish starts any more; those in flight may finish
			// within the grace, then the session ends.
			time.AfterFunc(ls.grace, func() { cancel(err) })
		})
	}()
	defer keepWG.Wait()
	defer cancel(nil)
	// A previous owner that lost its lock connection may publish until its
	// lease ends, then saves its checkpoint and releases the route: wait
	// for that, at least a lease and at most HandoffWait.
	// The handoff waited for and the takeover are one step: when another
	// instance took the route over in between (its lock connection lost
	// right after it got the lock), this one waits for that owner instead.
	var epoch int64
	for {
		seen, err := rt.awaitHandoff(ctx, ls.ttl)
		if err != nil {
			return rt.sessionEnd(ctx, err)
		}
		var owned bool
		if epoch, owned, err = rt.relay.checkpoints.own(ctx, rt.cfg.Name, rt.relay.opts.Instance, seen); err != nil {
			return rt.sessionEnd(ctx, err)
		}
		if owned {
			break
		}
	}
	rt.lease.Store(ls)
	defer rt.lease.Store(nil)
	rt.mu.Lock()
	rt.ownedSince = time.Now()
	rt.mu.Unlock()
	rt.relay.metrics.owned.WithLabelValues(rt.cfg.Name).Set(1)
	defer rt.relay.metrics.owned.WithLabelValues(rt.cfg.Name).Set(0)
	rt.takeovers.Inc()
	rt.logger.Info("relay: route taken over", "instance", rt.relay.opts.Instance, "epoch", epoch)
	pos, skip, err := rt.relay.checkpoints.load(ctx, rt.cfg.Name)
	if err != nil {
		return err
	}
	rt.mu.Lock()
	rt.acked, rt.saved, rt.unsaved, rt.unsavedPb, rt.running = pos, pos, 0, 0, true
	rt.skip = make(map[events.Position]bool, len(skip))
	for _, p := range skip {
		rt.skip[p] = true
	}
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		rt.running = false
		rt.mu.Unlock()
	}()
	rt.logger.Info("relay: route following the log", "from", pos.String())

	sctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rt.background(sctx)
	}()
	err = rt.follow(sctx, pos)
	stopFollow()
	wg.Wait()
	// Whatever stopped the session, the acknowledged position is worth
	// keeping; a fresh context lets it be written after ctx is done.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer fcancel()
	rt.lease.Store(nil) // nothing is published from here on
	if serr := rt.save(fctx); serr != nil {
		rt.logger.Warn("relay: checkpoint not saved on stop; the next owner will publish again what came after the last one", "err", serr)
	} else if rerr := rt.relay.checkpoints.release(fctx, rt.cfg.Name, epoch); rerr != nil {
		rt.logger.Warn("relay: route not released", "err", rerr)
	}
	return rt.sessionEnd(ctx, err)
}

// awaitHandoff waits until the route's previous owner released it: at
// once when it did (or there was none); otherwise at least lease (its
// publishing has stopped by then) and at most HandoffWait (it may be dead;
// what it published after its last checkpoint is then published again).
// It returns the epoch of the owner waited for (0: none).
func (rt *route) awaitHandoff(ctx context.Context, lease time.Duration) (int64, error) {
	start := time.Now()
	maxWait := max(rt.relay.opts.HandoffWait, lease)
	for {
		released, prev, epoch, err := rt.relay.checkpoints.previous(ctx, rt.cfg.Name)
		if err != nil {
			return 0, err
		}
		waited := time.Since(start)
		switch {
		case released:
			return epoch, nil
		case waited >= maxWait:
			rt.logger.Warn("relay: previous owner did not release the route in time; taking over (events after its last checkpoint are published again)",
				"previous", prev, "waited", waited)
			return epoch, nil
		}
		if !sleep(ctx, min(rt.relay.opts.LockPoll, maxWait-waited)) {
			return 0, ctx.Err()
		}
	}
}

// sessionEnd is what a session returns: nil when its context was
// cancelled from outside, the lease's loss, or err.
func (rt *route) sessionEnd(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, errLeaseLost) {
		return fmt.Errorf("relay: route %q: %w", rt.cfg.Name, cause)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("subscription ended")
	}
	return fmt.Errorf("relay: route %q: %w", rt.cfg.Name, err)
}

// lock holds the route's advisory lock on a dedicated connection, waiting
// while another process runs the route, and returns the lease that the
// connection keeps alive.
func (rt *route) lock(ctx context.Context) (ls *lease, release func(), err error) {
	pool := rt.relay.opts.Pool
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("relay: route %q: acquire lock connection: %w", rt.cfg.Name, err)
	}
	const q = `SELECT pg_try_advisory_lock(hashtext('custody.relay'), hashtext($1))`
	waiting := false
	var asked time.Time
	for {
		var ok bool
		asked = time.Now()
		if err := conn.QueryRow(ctx, q, rt.cfg.Name).Scan(&ok); err != nil {
			conn.Release()
			return nil, nil, fmt.Errorf("relay: route %q: lock: %w", rt.cfg.Name, err)
		}
		if ok {
			break
		}
		if !waiting {
			rt.logger.Info("relay: route runs in another process; waiting for its lock")
			waiting = true
		}
		if !sleep(ctx, rt.relay.opts.LockPoll) {
			conn.Release()
			return nil, nil, ctx.Err()
		}
	}
	o := rt.relay.opts
	ls = &lease{ttl: o.Lease, grace: max(o.HandoffWait-o.Lease-100*time.Millisecond, 0), until: asked.Add(o.Lease), conn: conn}
	return ls, func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtext('custody.relay'), hashtext($1))`, rt.cfg.Name); err != nil {
			// A session lock dies with its connection.
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}, nil
}

// outgoing is an event on its way from the log reader to a publisher.
type outgoing struct {
	rec     events.Recorded
	topic   string
	payload []byte // nil when the route filters the event out
	err     error  // the event cannot be encoded
}

// readAhead bounds how many events a route has read but not yet seen
// acknowledged.
const readAhead = 1024

// slot is an event in flight: where it sits in the log and whether the
// broker acknowledged it (or the route filtered it out).
type slot struct {
	pos  events.Position
	done bool
}

// job is an event handed to a publishing worker; seq numbers events in
// log order.
type job struct {
	seq int64
	out outgoing
}

// follow reads the log from pos and publishes what it reads until ctx is
// done or something fails.
//
// Reading and encoding run on the subscription's goroutine. Publishing runs
// on Parallelism workers; every event of a stream goes to the same worker
// (by a hash of the stream), which publishes one event at a time and waits
// for the broker's acknowledgement before the next, so each stream's
// events reach the broker in stream order. The acknowledged position —
// and with it the checkpoint — only moves past an event once it and every
// event before it in the log were acknowledged.
func (rt *route) follow(ctx context.Context, pos events.Position) error {
	ctx, cancel := context.WithCancel(ctx)
	queue := make(chan outgoing, readAhead)
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		readErr <- rt.relay.opts.Log.Subscribe(ctx, pos, func(rec events.Recorded) error {
			select {
			case queue <- rt.prepare(rec):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	workers := make([]chan job, rt.relay.opts.Parallelism)
	// Both channels hold every event in flight, so sends never block.
	acks := make(chan int64, readAhead)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = make(chan job, readAhead)
		wg.Add(1)
		go func(in <-chan job) {
			defer wg.Done()
			for j := range in {
				if rt.publish(ctx, j.out.topic, j.out.rec, j.out.payload) != nil {
					return // ctx is done; follow is returning
				}
				acks <- j.seq
			}
		}(workers[i])
	}
	var (
		ring      = make([]slot, readAhead)
		next, low int64 // next seq to assign; lowest seq not yet acknowledged
		reading   = true
		stopErr   error
	)
	defer func() {
		cancel()
		for _, w := range workers {
			close(w)
		}
		wg.Wait()
		for range queue {
			// Let the reader see the cancellation and finish.
		}
		// Events acknowledged after the first unacknowledged one were
		// published: remember them so that nobody publishes them again.
		for {
			select {
			case seq := <-acks:
				ring[seq%readAhead].done = true
				continue
			default:
			}
			break
		}
		rt.mu.Lock()
		for seq := low; seq < next; seq++ {
			if s := ring[seq%readAhead]; s.done {
				rt.skip[s.pos] = true
			}
		}
		rt.mu.Unlock()
	}()
	// ack marks seq acknowledged and moves the acknowledged position over
	// the contiguous run of acknowledged events.
	ack := func(seq int64) error {
		ring[seq%readAhead].done = true
		for low < next && ring[low%readAhead].done {
			s := ring[low%readAhead]
			ring[low%readAhead] = slot{}
			low++
			rt.mu.Lock()
			rt.acked = s.pos
			rt.unsaved++
			due := rt.unsaved >= rt.relay.opts.CheckpointEvery
			rt.mu.Unlock()
			if due {
				if err := rt.save(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for {
		in := queue
		if !reading || stopErr != nil || next-low >= readAhead {
			in = nil
		}
		if in == nil && next == low {
			switch {
			case stopErr != nil:
				return stopErr
			case !reading:
				return <-readErr
			}
		}
		select {
		case out, ok := <-in:
			if !ok {
				reading = false
				continue
			}
			if out.err != nil {
				// Retrying cannot help, and skipping would break the
				// contract: the route stops before this event (once the
				// events before it are acknowledged) and says why.
				stopErr = fmt.Errorf("encode event %s (%s, stream %s): %w", out.rec.ID, out.rec.Type, out.rec.Stream, out.err)
				continue
			}
			seq := next
			next++
			ring[seq%readAhead] = slot{pos: out.rec.Position}
			if out.payload == nil {
				if err := ack(seq); err != nil {
					return err
				}
				continue
			}
			workers[shard(out.rec.Stream, len(workers))] <- job{seq: seq, out: out}
		case seq := <-acks:
			if err := ack(seq); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// shard picks the worker of a stream (FNV-1a).
func shard(stream string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(stream); i++ {
		h ^= uint32(stream[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// prepare filters and encodes one event.
func (rt *route) prepare(rec events.Recorded) outgoing {
	out := outgoing{rec: rec}
	if !rt.cfg.accepts(rec.CorpID, rec.Type) {
		return out
	}
	rt.mu.Lock()
	published := rt.skip[rec.Position]
	rt.mu.Unlock()
	if published {
		return out
	}
	out.topic = rt.cfg.Topic(rec.Type)
	out.payload, out.err = cloudevents.Marshal(rec, rt.cfg.IncludePII)
	return out
}

// publish sends one event and waits for the broker's acknowledgement,
// retrying with backoff — and reconnecting after ReconnectAfter failures in
// a row — until it succeeds or ctx is done. Safe for concurrent use.
func (rt *route) publish(ctx context.Context, topic string, rec events.Recorded, payload []byte) error {
	var b *backoff.ExponentialBackOff
	for attempt := 0; ; attempt++ {
		ls := rt.lease.Load()
		if ls == nil {
			return errLeaseLost
		}
		deadline, ok := ls.deadline()
		if !ok {
			return fmt.Errorf("%w: not publishing %s", errLeaseLost, rec.ID)
		}
		// A publish started within the lease may take the grace to finish:
		// a successor starts no earlier (see awaitHandoff). Cutting it
		// short would leave it unknown whether the broker took it.
		pctx, cancel := context.WithDeadline(ctx, deadline.Add(ls.grace))
		err := rt.publishOnce(pctx, topic, rec, payload)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, ok := ls.deadline(); !ok {
			return fmt.Errorf("%w: publish of %s cut short", errLeaseLost, rec.ID)
		}
		rt.retriesC.Inc()
		rt.setErr(err)
		rt.logger.Warn("relay: publish failed, retrying",
			"event_id", rec.ID, "type", rec.Type, "topic", topic, "attempt", attempt+1, "err", err)
		if b == nil {
			b = rt.newBackoff()
		}
		if !sleep(ctx, b.NextBackOff()) {
			return ctx.Err()
		}
	}
}

// publishOnce makes one attempt to publish an event, within ctx's deadline.
func (rt *route) publishOnce(ctx context.Context, topic string, rec events.Recorded, payload []byte) error {
	pub, err := rt.publisher(ctx)
	if err == nil {
		msg := newMessage(rec, payload)
		msg.SetContext(ctx)
		if err = pub.Publish(topic, msg); err == nil {
			rt.pubMu.Lock()
			rt.failures = 0
			rt.pubMu.Unlock()
			rt.publishedC.Inc()
			rt.mu.Lock()
			rt.published++
			rt.unsavedPb++
			rt.lastErr = ""
			rt.mu.Unlock()
			return nil
		}
	}
	rt.pubMu.Lock()
	rt.failures++
	if rt.failures >= rt.relay.opts.ReconnectAfter && pub != nil && rt.pub == pub {
		rt.closePublisherLocked()
	}
	rt.pubMu.Unlock()
	return err
}

// NewMessage is the watermill message the relay publishes for rec: the
// CloudEvent (personal data only when includePII) as payload, the event id
// as UUID, and the metadata partition_key (the stream), content_type and
// ce_type.
func NewMessage(rec events.Recorded, includePII bool) (*message.Message, error) {
	payload, err := cloudevents.Marshal(rec, includePII)
	if err != nil {
		return nil, err
	}
	return newMessage(rec, payload), nil
}

func newMessage(rec events.Recorded, payload []byte) *message.Message {
	msg := message.NewMessage(rec.ID.String(), payload)
	msg.Metadata.Set(PartitionKeyMetadata, rec.Stream)
	msg.Metadata.Set("content_type", cloudevents.ContentType)
	msg.Metadata.Set("ce_type", rec.Type)
	return msg
}

// publisher returns the route's publisher, connecting when there is none.
func (rt *route) publisher(ctx context.Context) (message.Publisher, error) {
	rt.pubMu.Lock()
	defer rt.pubMu.Unlock()
	if rt.pub != nil {
		return rt.pub, nil
	}
	switch {
	case rt.cfg.Publisher != nil:
		rt.pub, rt.ownPub = rt.cfg.Publisher, false
	case rt.inProcess():
		rt.pub, rt.ownPub = rt.relay.inproc, false
	default:
		pub, err := NewPublisher(ctx, rt.cfg.URL, rt.relay.wmLogger)
		if err != nil {
			return nil, err
		}
		rt.pub, rt.ownPub = pub, true
		rt.failures = 0
	}
	return rt.pub, nil
}

func (rt *route) inProcess() bool {
	s, _ := scheme(rt.cfg.URL)
	return s == "gochannel"
}

func (rt *route) closePublisher() {
	rt.pubMu.Lock()
	defer rt.pubMu.Unlock()
	rt.closePublisherLocked()
}

func (rt *route) closePublisherLocked() {
	if rt.pub != nil && rt.ownPub {
		if err := rt.pub.Close(); err != nil {
			rt.logger.Warn("relay: close publisher", "err", err)
		}
	}
	rt.pub, rt.ownPub = nil, false
}

// save writes the acknowledged position when it moved.
func (rt *route) save(ctx context.Context) error {
	rt.saveMu.Lock()
	defer rt.saveMu.Unlock()
	rt.mu.Lock()
	pos, n, pb := rt.acked, rt.unsaved, rt.unsavedPb
	var skip []events.Position
	for p := range rt.skip {
		if pos.Less(p) {
			skip = append(skip, p)
		} else {
			delete(rt.skip, p)
		}
	}
	if pos == rt.saved && len(skip) == 0 {
		rt.mu.Unlock()
		return nil
	}
	rt.mu.Unlock()
	if err := rt.relay.checkpoints.save(ctx, rt.cfg.Name, pos, pb, skip); err != nil {
		return err
	}
	rt.mu.Lock()
	rt.saved = pos
	rt.unsaved -= n
	rt.unsavedPb -= pb
	rt.mu.Unlock()
	return nil
}

// background saves the checkpoint every CheckpointInterval while it moves
// and measures the lag every LagInterval.
func (rt *route) background(ctx context.Context) {
	save := time.NewTicker(rt.relay.opts.CheckpointInterval)
	defer save.Stop()
	lag := time.NewTicker(rt.relay.opts.LagInterval)
	defer lag.Stop()
	rt.measureLag(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-save.C:
			if err := rt.save(ctx); err != nil && ctx.Err() == nil {
				rt.logger.Warn("relay: checkpoint not saved", "err", err)
			}
		case <-lag.C:
			rt.measureLag(ctx)
		}
	}
}

// measureLag sets the lag gauge to the age of the oldest event after the
// acknowledged position.
func (rt *route) measureLag(ctx context.Context) {
	rt.mu.Lock()
	pos := rt.acked
	rt.mu.Unlock()
	next, err := rt.relay.opts.Log.ReadAll(ctx, pos, 1)
	if err != nil {
		return
	}
	lag := 0.0
	if len(next) > 0 {
		lag = max(time.Since(next[0].RecordedAt).Seconds(), 0)
	}
	rt.relay.metrics.lag.WithLabelValues(rt.cfg.Name).Set(lag)
}

func (rt *route) setErr(err error) {
	rt.mu.Lock()
	rt.lastErr = err.Error()
	rt.mu.Unlock()
}

// newBackoff waits RetryMin·2^attempt, capped at RetryMax, with ±20%
// jitter so that many routes do not retry in lockstep.
func (rt *route) newBackoff() *backoff.ExponentialBackOff {
	o := rt.relay.opts
	return &backoff.ExponentialBackOff{InitialInterval: o.RetryMin, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: o.RetryMax}
}

// sleep waits d or until ctx is done, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// redactURL hides a URL's password for logs and status.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// errLeaseLost: the route's lock connection was not seen alive within the
// lease; another process may own the route now.
var errLeaseLost = errors.New("route lease lost (lock connection not seen alive in time); stopped publishing")

// lease is a route owner's right to publish: until a lease length after it
// last saw the connection holding the route's advisory lock alive. The
// lock is a session lock, so a live connection still holds it.
type lease struct {
	ttl   time.Duration
	grace time.Duration // a publish started in the lease may end this much after it
	conn  *pgxpool.Conn

	mu    sync.Mutex
	until time.Time // monotonic
}

// deadline is the end of the lease and whether it is still running.
func (l *lease) deadline() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until, time.Now().Before(l.until)
}

// keep checks the lock connection every ttl/5 and extends the lease from
// the moment each successful check was sent. When a check fails, or the
// lease runs out, it calls lost and returns; it returns when ctx is done.
func (l *lease) keep(ctx context.Context, lost func(error)) {
	every := l.ttl / 5
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		// A slow answer only lets the lease run out (publishing stops);
		// a lost connection ends the session.
		cctx, cancel := context.WithTimeout(ctx, 10*l.ttl)
		_, err := l.conn.Exec(cctx, "SELECT 1")
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.mu.Lock()
			l.until = time.Now()
			l.mu.Unlock()
			lost(fmt.Errorf("%w: %w", errLeaseLost, err))
			return
		}
		l.mu.Lock()
		l.until = sent.Add(l.ttl)
		l.mu.Unlock()
	}
}
