package commands

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events/eventlog"
)

// Clock tells the time. Commands use it for events whose Meta.OccurredAt
// is zero; tests inject a fixed one.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// SettingsSource looks up a corp's limits. It returns an error wrapping
// ErrUnknownCorp (ideally a *UnknownCorpError) for a corp it does not
// serve. Implementations are safe for concurrent use.
type SettingsSource interface {
	Settings(ctx context.Context, corpID string) (corp.Settings, error)
}

// ErrUnknownCorp: the SettingsSource knows no settings for the corp.
var ErrUnknownCorp = errors.New("commands: unknown corp")

// UnknownCorpError names the corp. It wraps ErrUnknownCorp.
type UnknownCorpError struct{ CorpID string }

func (e *UnknownCorpError) Error() string { return fmt.Sprintf("commands: unknown corp %q", e.CorpID) }

// Unwrap makes errors.Is(err, ErrUnknownCorp) true.
func (e *UnknownCorpError) Unwrap() error { return ErrUnknownCorp }

// SettingsMap serves a fixed set of corps. Zero fields of a corp's settings
// take WeCom's defaults; any other corp is unknown.
type SettingsMap map[string]corp.Settings

// Settings implements SettingsSource.
func (m SettingsMap) Settings(_ context.Context, corpID string) (corp.Settings, error) {
	s, ok := m[corpID]
	if !ok {
		return corp.Settings{}, &UnknownCorpError{CorpID: corpID}
	}
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return corp.Settings{}, fmt.Errorf("commands: settings of corp %q: %w", corpID, err)
	}
	return s, nil
}

// DefaultSettings serves WeCom's defaults to every corp (single-tenant and
// embedded use).
type DefaultSettings struct{}

// Settings implements SettingsSource.
func (DefaultSettings) Settings(_ context.Context, corpID string) (corp.Settings, error) {
	if corpID == "" {
		return corp.Settings{}, &UnknownCorpError{}
	}
	return corp.Defaults(), nil
}

// DefaultMaxRetries is Options.MaxRetries when unset. A reservation on a
// busy target loses at most one race per slot another writer takes, so this
// also bounds how many concurrent handovers to one target are sure to get
// an answer other than ErrConflict.
const DefaultMaxRetries = 32

// Options configure a Handler.
type Options struct {
	// Log is the event log. Required.
	Log eventlog.EventLog
	// Eraser destroys a data subject's key (EraseCustomer, EraseStaff). Required.
	Eraser eventlog.Eraser
	// Settings look up each corp's limits. Required.
	Settings SettingsSource
	// Clock defaults to SystemClock.
	Clock Clock
	// Pending finds pending handovers for SettleDue and DepartStaff. It
	// defaults to a LogScan of Log, which reads the whole log on every call:
	// fine for tests and small embedded use; production wires the
	// projections' SQL query.
	Pending PendingHandovers
	// MaxRetries is how often a command re-reads and re-decides after an
	// ErrConflict before it gives up with that error. Default
	// DefaultMaxRetries; negative means no retry.
	MaxRetries int
	// GroupTransfers carries in-service and resigned group-owner changes
	// out in WeCom for corps whose settings have HandoversInWeCom (see
	// TransferGroupChat). Optional: without it every corp's group
	// transfers are recorded locally only.
	GroupTransfers GroupTransfers
	// Snapshots stores the aggregates of busy staff members, so that a
	// Handler that does not hold a member yet (a restart, another
	// instance) loads its snapshot and the events after it instead of the
	// whole stream. Default: Log, when it implements eventlog.Snapshots
	// (pgstore does); nil without.
	Snapshots eventlog.Snapshots
	// SnapshotEvery is how many events of a member's stream pass between
	// two writes of its aggregate (in the background, after the command
	// that crossed the mark): a delta on top of its last snapshot while
	// the delta stays small beside that snapshot, a whole snapshot
	// otherwise. Default DefaultSnapshotEvery; negative means nothing is
	// written (stored snapshots are still read).
	SnapshotEvery int
	// StaffBatch is how many decisions on one member's stream (slot
	// reservations and releases of concurrent commands) this Handler
	// appends together, at most, in one append at the stream's exact
	// version. Default DefaultStaffBatch; 1 appends each on its own.
	StaffBatch int
}

// DefaultStaffBatch is Options.StaffBatch when unset.
const DefaultStaffBatch = 256

// DefaultSnapshotEvery is Options.SnapshotEvery when unset: a cold load
// replays at most this many events after the member's snapshot and
// delta. Those events are what a cold load pays most for, each read and
// decoded (~6.5 µs of CPU each on the benchmark machine), while a delta
// is a few kB, written in the background (BENCHMARKS.md, "Cold start:
// snapshot deltas").
const DefaultSnapshotEvery = 16

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Pending == nil && o.Log != nil {
		o.Pending = &LogScan{Log: o.Log}
	}
	if o.Snapshots == nil {
		o.Snapshots, _ = o.Log.(eventlog.Snapshots)
	}
	if o.StaffBatch <= 0 {
		o.StaffBatch = DefaultStaffBatch
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
}

// Validate reports every missing required option, joined.
func (o Options) Validate() error {
	var errs []error
	if o.Log == nil {
		errs = append(errs, errors.New("commands: Options.Log is required"))
	}
	if o.Eraser == nil {
		errs = append(errs, errors.New("commands: Options.Eraser is required"))
	}
	if o.Settings == nil {
		errs = append(errs, errors.New("commands: Options.Settings is required"))
	}
	return errors.Join(errs...)
}

// Handler carries out every command. It holds no per-command state and is
// safe for concurrent use; concurrent commands on one aggregate are
// serialised by the log's expected-version check and retried.
type Handler struct {
	log        eventlog.EventLog
	eraser     eventlog.Eraser
	settings   SettingsSource
	clock      Clock
	pending    PendingHandovers
	maxRetries int
	groups     GroupTransfers
	staff      staffCache
	groupCache groupCache
	// customers serialises, within this process, the commands on one
	// customer's stream from their read to the end of their slot step, so
	// that the slot step may decide on the customer as the command left it
	// (see converge).
	customers keyedLocks
	// converged remembers the customer events whose slot effects this
	// Handler's commands carried out (see convergedMemo).
	converged convergedMemo
	// slotBases remembers the slot events this Handler's convergences
	// appended and the customer version each was decided on (see
	// slotBasisMemo).
	slotBases slotBasisMemo
	// snapshots, when not nil, stores staff aggregates every snapshotEvery
	// events (never when snapshotEvery < 0); saving counts the writes in
	// flight.
	snapshots     eventlog.Snapshots
	snapshotEvery int64
	deltaShare    int // see deltaShare
	saving        sync.WaitGroup
	staffBatch    int
}

// New builds a Handler.
func New(opts Options) (*Handler, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Handler{
		log: opts.Log, eraser: opts.Eraser, settings: opts.Settings, clock: opts.Clock,
		pending: opts.Pending, maxRetries: opts.MaxRetries, groups: opts.GroupTransfers,
		snapshots: opts.Snapshots, snapshotEvery: int64(opts.SnapshotEvery), deltaShare: deltaShare,
		staffBatch: opts.StaffBatch,
	}, nil
}
