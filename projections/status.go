package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/events"
)

// Lag is where a projection stands against the log's head; a projection
// applied in partitions (Checkpoint.Partitions > 1) where its slowest
// partition stands.
type Lag struct {
	Checkpoint
	// Head is the log's head when the lag was measured.
	Head events.Position
	// EventsBehind counts the events after the checkpoint up to Head. When
	// Capped is true the count stopped at the scan limit and is a lower bound.
	EventsBehind int64
	Capped       bool
	// Behind is how much older the checkpoint's last event is than the
	// newest event counted (recorded time); 0 when caught up.
	Behind time.Duration
	// PendingMigrations counts migrations of this build not applied yet.
	PendingMigrations int
	// Parked lists the corps whose events the projection skips (see
	// Parking), by corp.
	Parked []Parked
	// Owner is the runner that applies the projection when runners divide
	// the projections (see LeaseOptions); nil when none ever took it over,
	// and for a projection applied in partitions.
	Owner *Owner
	// PartitionOwners are the owners of a projection's partitions, in
	// partition order, of those ever taken over (see
	// Options.Partitions).
	PartitionOwners []Owner
}

// StatusOptions configure Status.
type StatusOptions struct {
	// ScanLimit caps the events read per projection to count its lag;
	// 0 or less means 100,000.
	ScanLimit int
	// PageSize is the ReadAll page size; 0 or less means 5,000.
	PageSize int
}

func (o *StatusOptions) setDefaults() {
	if o.ScanLimit <= 0 {
		o.ScanLimit = 100_000
	}
	if o.PageSize <= 0 {
		o.PageSize = 5_000
	}
}

// Status measures the lag of each projection in ps by reading the log after
// its stored checkpoint. It reads, never writes, and works while runners and
// rebuilds are busy.
func Status(ctx context.Context, pool *pgxpool.Pool, src Source, ps []Projection, opts StatusOptions) ([]Lag, error) {
	opts.setDefaults()
	cps, err := readCheckpoints(ctx, pool, names(ps), false)
	if err != nil {
		return nil, err
	}
	parked, err := ParkedCorps(ctx, pool, names(ps)...)
	if err != nil {
		return nil, err
	}
	owners, err := Owners(ctx, pool)
	if err != nil {
		return nil, err
	}
	head, err := src.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("projections: status: head: %w", err)
	}
	type scan struct {
		n      int64
		capped bool
		oldest time.Time
		newest time.Time
	}
	// Projections usually share a checkpoint: count each position once.
	scans := map[events.Position]scan{}
	out := make([]Lag, 0, len(ps))
	for _, p := range ps {
		cp := cps[p.Name()]
		s, ok := scans[cp.Position]
		if !ok && cp.Position.Less(head) {
			from := cp.Position
			for s.n < int64(opts.ScanLimit) {
				recs, err := src.ReadAll(ctx, from, min(opts.PageSize, opts.ScanLimit-int(s.n)))
				if err != nil {
					return nil, fmt.Errorf("projections: status: read log: %w", err)
				}
				if len(recs) == 0 {
					break
				}
				if s.n == 0 {
					s.oldest = recs[0].RecordedAt
				}
				s.n += int64(len(recs))
				s.newest = recs[len(recs)-1].RecordedAt
				from = recs[len(recs)-1].Position
				if head.Less(from) || from == head {
					break
				}
			}
			s.capped = s.n >= int64(opts.ScanLimit) && from.Less(head)
			scans[cp.Position] = s
		}
		l := Lag{Checkpoint: cp, Head: head, EventsBehind: s.n, Capped: s.capped,
			PendingMigrations: max(0, len(p.Migrations())-cp.SchemaVersion)}
		for _, o := range owners {
			if o.Projection == p.Name() && cp.Partitions <= 1 {
				l.Owner = &o
			}
		}
		for i := range cp.Partitions {
			for _, o := range owners {
				if cp.Partitions > 1 && o.Projection == partName(p.Name(), i, cp.Partitions) {
					l.PartitionOwners = append(l.PartitionOwners, o)
				}
			}
		}
		for _, pk := range parked {
			if pk.Projection == p.Name() {
				l.Parked = append(l.Parked, pk)
			}
		}
		if s.n > 0 {
			since := cp.LastRecordedAt
			if since.IsZero() {
				since = s.oldest
			}
			l.Behind = max(s.newest.Sub(since), 0)
		}
		out = append(out, l)
	}
	return out, nil
}
