package commands

import (
	"sync"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/custody/custody/events"
)

// convergedSize bounds how many events a Handler remembers as converged:
// enough for a keeper some ten thousand events behind.
const convergedSize = 1 << 16

// convergedEvents remembers the events whose (customer, member) pairs a
// convergence of this Handler completed after they were recorded: a
// command's customer events once every pair they touch converged (see
// slotEffectsOn), and what a convergence recorded itself (slot events, a
// handover failure) once it finished. The SlotKeeper passes over these
// events: a convergence that ran after the event, on the streams with the
// event, already left its pairs agreeing — what the keeper would do
// again; anything later on either stream is another event the keeper
// handles. The memory is this process's: a convergence that failed or
// died with its process left no mark, and any keeper converges its events
// as before.
type convergedEvents struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uuid.UUID, struct{}]
}

// mark records that the pairs of recs converged.
func (c *convergedEvents) mark(recs []events.Recorded) {
	if len(recs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru == nil {
		l, err := simplelru.NewLRU[uuid.UUID, struct{}](convergedSize, nil)
		if err != nil {
			panic(err) // only for a size < 1
		}
		c.lru = l
	}
	for _, r := range recs {
		c.lru.Add(r.ID, struct{}{})
	}
}

// has reports whether the event's pairs converged after it was recorded.
func (c *convergedEvents) has(id uuid.UUID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru != nil && c.lru.Contains(id)
}
