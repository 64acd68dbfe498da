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

// slotBasis is what a slot event was decided on: the customer's stream at
// version.
type slotBasis struct {
	stream  string
	version int64
}

// slotBasisMemo remembers the slot events (reservations, releases) a
// convergence of this Handler appended, with the customer version each was
// decided on. Such an event was appended at the member's exact version,
// so when it was recorded the member and the customer agreed; the only
// way it can be wrong is a change of the customer's stream between the
// decision and the append (another process's command). The Handler's
// SlotKeeper therefore checks that the customer's stream is still at that
// version (one read of its tail) instead of converging the pair again
// (reading the settings, the member and the customer); a customer that
// moved on is converged as before. Events of other processes, of
// convergences that failed or died, and events found already stored
// (another writer's) are not in it. Forgetting one only costs a full
// convergence.
type slotBasisMemo struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uuid.UUID, slotBasis]
}

func (m *slotBasisMemo) add(recs []events.Recorded, stream string, version int64) {
	if len(recs) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lru == nil {
		l, err := simplelru.NewLRU[uuid.UUID, slotBasis](convergedSize, nil)
		if err != nil {
			panic(err) // only for a size < 1
		}
		m.lru = l
	}
	for _, r := range recs {
		m.lru.Add(r.ID, slotBasis{stream: stream, version: version})
	}
}

// take returns what the event id was decided on, if remembered, and
// forgets it: the keeper handles an event once.
func (m *slotBasisMemo) take(id uuid.UUID) (slotBasis, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lru == nil {
		return slotBasis{}, false
	}
	b, ok := m.lru.Peek(id)
	if ok {
		m.lru.Remove(id)
	}
	return b, ok
}
