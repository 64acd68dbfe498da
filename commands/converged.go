package commands

import (
	"sync"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/custody/custody/events"
)

// convergedSize bounds how many event ids a Handler remembers as
// converged: far more than its SlotKeeper lags behind its commands.
const convergedSize = 1 << 16

// convergedMemo remembers the customer events whose slot effects a command
// of this Handler carried out completely after recording them (see
// run.slotEffects): the Handler's SlotKeeper need not converge their pairs
// again. That convergence decided on the customer's stream as of the event
// (or later), which is what the keeper's would do; a later event of the
// pair is handled on its own. Events of other processes, of commands that
// failed or died before their slot step ended, and slot events are not in
// it: the keeper converges those. Forgetting an id only costs a
// convergence that changes nothing.
type convergedMemo struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uuid.UUID, struct{}]
}

func (m *convergedMemo) add(recs []events.Recorded) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lru == nil {
		l, err := simplelru.NewLRU[uuid.UUID, struct{}](convergedSize, nil)
		if err != nil {
			panic(err) // only for a size < 1
		}
		m.lru = l
	}
	for _, r := range recs {
		m.lru.Add(r.ID, struct{}{})
	}
}

// has reports whether id is remembered, and forgets it: the keeper
// handles an event once.
func (m *convergedMemo) has(id uuid.UUID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru != nil && m.lru.Remove(id)
}
