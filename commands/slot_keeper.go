package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Checkpoint keeps how far a log follower got: every event up to and
// including the stored position was handled. Implementations are safe for
// concurrent use; Save never moves the checkpoint backwards.
type Checkpoint interface {
	// Load returns the stored position, events.Start when there is none.
	Load(ctx context.Context) (events.Position, error)
	// Save stores pos unless a later position is stored already.
	Save(ctx context.Context, pos events.Position) error
}

// MemoryCheckpoint is a Checkpoint in memory: for tests, and for embedded
// use where starting from the beginning after a restart is affordable. Its
// zero value starts at events.Start.
type MemoryCheckpoint struct {
	mu  sync.Mutex
	pos events.Position
}

// Load implements Checkpoint.
func (m *MemoryCheckpoint) Load(context.Context) (events.Position, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos, nil
}

// Save implements Checkpoint.
func (m *MemoryCheckpoint) Save(_ context.Context, pos events.Position) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pos.Less(pos) {
		m.pos = pos
	}
	return nil
}

// SlotKeeperOptions configure a SlotKeeper.
type SlotKeeperOptions struct {
	// Checkpoint stores how far the keeper got. Required.
	Checkpoint Checkpoint
	// Logger receives what the keeper repaired and why it waits. Default
	// slog.Default().
	Logger *slog.Logger
	// SaveEvery is how many handled events, at most, go by between two
	// checkpoint saves (also saved after a second, and when Run or CatchUp
	// return). Default 100. Events after the last save are handled again
	// after a restart, which changes nothing.
	SaveEvery int
	// RetryMin and RetryMax bound Run's wait before it resubscribes after a
	// failure (doubling from min to max). Defaults 100ms and 30s.
	RetryMin, RetryMax time.Duration
}

func (o *SlotKeeperOptions) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = 100
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
}

// Validate reports every missing required option, joined.
func (o SlotKeeperOptions) Validate() error {
	var errs []error
	if o.Checkpoint == nil {
		errs = append(errs, errors.New("commands: SlotKeeperOptions.Checkpoint is required"))
	}
	return errors.Join(errs...)
}

// SlotKeeper is the process manager of DESIGN §10 for capacity: it follows
// the log and, for every event that changes what a member's slots should
// be (a relation started or ended, a handover requested or settled, a
// customer erased, a slot reserved or released, a member departed),
// converges the slots of the (customer, member) pairs involved with the
// customer's stream (see decideSlot). Commands converge the pairs they
// touch themselves; the keeper is what completes a command whose process
// died between its customer append and its convergence, when nobody
// retries it.
//
// The customer events whose slot step a command of the same Handler
// completed are passed over (see convergedMemo): that command converged
// their pairs after recording them.
//
// Every decision is taken from the streams' current state and appended
// with exact expected versions and ids derived from the decision, so
// handling an event twice, handling it while commands or other keepers work
// on the same pairs, or starting again from an older checkpoint is
// harmless.
type SlotKeeper struct {
	h    *Handler
	opts SlotKeeperOptions

	mu      sync.Mutex
	pos     events.Position // last handled
	unsaved int
	savedAt time.Time
}

// NewSlotKeeper builds a keeper that converges through h (sharing its
// staff cache, so that in one process the keeper and the commands take
// turns on a member).
func NewSlotKeeper(h *Handler, opts SlotKeeperOptions) (*SlotKeeper, error) {
	if h == nil {
		return nil, errors.New("commands: NewSlotKeeper: nil Handler")
	}
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &SlotKeeper{h: h, opts: opts}, nil
}

// Position is the position of the last event the keeper handled (or the
// loaded checkpoint before the first).
func (k *SlotKeeper) Position() events.Position {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pos
}

// Run follows the log from the stored checkpoint until ctx is done and
// returns ctx.Err(). A failure (the log or the database unreachable, a
// conflict that outlasted the handler's retries) is logged and the keeper
// resubscribes after a growing pause from the last event it handled, so
// that the event is handled again.
func (k *SlotKeeper) Run(ctx context.Context) error {
	wait := k.opts.RetryMin
	loaded := false
	for {
		var err error
		if !loaded {
			if err = k.load(ctx); err == nil {
				loaded = true
			}
		}
		if loaded {
			err = k.h.log.Subscribe(ctx, k.Position(), func(rec events.Recorded) error {
				if err := k.handle(ctx, rec); err != nil {
					return err
				}
				wait = k.opts.RetryMin
				return k.maybeSave(ctx)
			})
		}
		k.save(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		k.opts.Logger.Warn("slot keeper: retrying", "err", err, "after", wait, "position", k.Position().String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, k.opts.RetryMax)
	}
}

// CatchUp handles every event after the stored checkpoint up to the log's
// end, including the events it records itself, saves the checkpoint and
// returns. It is Run for one-off use (tests, a restarted process that
// wants to converge before it serves).
func (k *SlotKeeper) CatchUp(ctx context.Context) error {
	if err := k.load(ctx); err != nil {
		return err
	}
	defer k.save(ctx)
	for {
		recs, err := k.h.log.ReadAll(ctx, k.Position(), 500)
		if err != nil {
			return fmt.Errorf("commands: slot keeper: read: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		for _, rec := range recs {
			if err := k.handle(ctx, rec); err != nil {
				return err
			}
			if err := k.maybeSave(ctx); err != nil {
				return err
			}
		}
	}
}

func (k *SlotKeeper) load(ctx context.Context) error {
	pos, err := k.opts.Checkpoint.Load(ctx)
	if err != nil {
		return fmt.Errorf("commands: slot keeper: load checkpoint: %w", err)
	}
	k.mu.Lock()
	if k.pos.Less(pos) {
		k.pos = pos
	}
	k.mu.Unlock()
	return nil
}

// handle converges what rec touches and advances the position. An event
// the keeper cannot read, or of a corp the settings do not know, is
// logged and passed over: handling it again would not change that.
func (k *SlotKeeper) handle(ctx context.Context, rec events.Recorded) error {
	err := k.converge(ctx, rec)
	if errors.Is(err, ErrUnreadableStream) || errors.Is(err, ErrUnknownCorp) {
		k.opts.Logger.Error("slot keeper: event passed over", "stream", rec.Stream, "version", rec.StreamVersion, "type", rec.Type, "err", err)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("commands: slot keeper: %s v%d (%s): %w", rec.Stream, rec.StreamVersion, rec.Type, err)
	}
	k.mu.Lock()
	k.pos = rec.Position
	k.unsaved++
	k.mu.Unlock()
	return nil
}

func (k *SlotKeeper) maybeSave(ctx context.Context) error {
	k.mu.Lock()
	due := k.unsaved >= k.opts.SaveEvery || (k.unsaved > 0 && time.Since(k.savedAt) >= time.Second)
	k.mu.Unlock()
	if !due {
		return nil
	}
	return k.saveErr(ctx)
}

// save stores the position on the way out, also when ctx is done.
func (k *SlotKeeper) save(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := k.saveErr(ctx); err != nil {
		k.opts.Logger.Warn("slot keeper: checkpoint not saved", "err", err)
	}
}

func (k *SlotKeeper) saveErr(ctx context.Context) error {
	k.mu.Lock()
	pos, n := k.pos, k.unsaved
	k.mu.Unlock()
	if n == 0 {
		return nil
	}
	if err := k.opts.Checkpoint.Save(ctx, pos); err != nil {
		return fmt.Errorf("commands: slot keeper: save checkpoint: %w", err)
	}
	k.mu.Lock()
	k.unsaved -= n
	k.savedAt = time.Now()
	k.mu.Unlock()
	return nil
}

// converge converges the pairs one event touches.
func (k *SlotKeeper) converge(ctx context.Context, rec events.Recorded) error {
	if !slotRelevant(rec.Type) || k.h.converged.has(rec.ID) {
		return nil
	}
	if b, ok := k.h.slotBases.take(rec.ID); ok && k.customerUnchanged(ctx, b) {
		return nil
	}
	p, err := events.DecodeRecorded(rec)
	if err != nil {
		return &StreamError{Stream: rec.Stream, Err: err}
	}
	r, err := k.h.begin(ctx, Meta{CorpID: rec.CorpID, Actor: "system", CorrelationID: rec.CorrelationID, CausationID: rec.ID.String()})
	if err != nil {
		return err
	}
	var recs []events.Recorded
	switch e := p.(type) {
	case *events.StaffSlotReserved:
		recs, err = r.converge(ctx, e.CustomerID, e.StaffID, nil)
	case *events.StaffSlotReleased:
		recs, err = r.converge(ctx, e.CustomerID, e.StaffID, nil)
	case *events.StaffDeparted:
		if _, err = k.h.failHandoversTo(ctx, r, e.StaffID); err == nil {
			err = r.syncHandoverSlots(ctx, e.StaffID)
		}
	default:
		cid, ok := events.CustomerOf(p)
		if !ok {
			return nil
		}
		recs, err = r.syncCustomer(ctx, cid)
	}
	for _, c := range recs {
		k.opts.Logger.Info("slot keeper: converged", "after", rec.Stream, "recorded", c.Type, "stream", c.Stream, "version", c.StreamVersion)
	}
	return err
}

// customerUnchanged reports whether the customer's stream is still at the
// version a slot event of this Handler was decided on (see slotBasisMemo).
// A failed read answers no: the pair is then converged as before.
func (k *SlotKeeper) customerUnchanged(ctx context.Context, b slotBasis) bool {
	recs, err := k.h.log.ReadStream(ctx, b.stream, b.version+1)
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		return b.version < 0
	}
	return err == nil && len(recs) == 0
}

// slotRelevant reports whether events of the type can change what a
// member's slots should be.
func slotRelevant(typ string) bool {
	switch typ {
	case "customer.relation_started", "customer.relation_ended", "customer.erased",
		"staff.slot_reserved", "staff.slot_released", "staff.departed":
		return true
	}
	return strings.HasPrefix(typ, "handover.")
}
