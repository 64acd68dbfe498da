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
// pair is handled on its own. Events of other processes, and of commands
// that failed or died before their slot step ended, are not in it: the
// keeper converges those. Forgetting an id only costs a convergence that
// changes nothing.
//
// It also remembers the slot events this Handler's convergences appended,
// with the customer stream version each was decided on (see
// run.converge): the keeper converges such a pair again only when the
// customer's stream has moved on since, which one read of the stream's
// tail tells (a convergence elsewhere may have decided on a stream another
// process was changing; see SlotKeeper.converge).
type convergedMemo struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uuid.UUID, decidedOn]
}

// decidedOn is what the memo keeps of an event: for a slot event, the
// customer stream and version it was decided on; zero for a customer
// event, whose pairs are converged.
type decidedOn struct {
	stream  string
	version int64
}

func (m *convergedMemo) put(id uuid.UUID, d decidedOn) {
	if m.lru == nil {
		l, err := simplelru.NewLRU[uuid.UUID, decidedOn](convergedSize, nil)
		if err != nil {
			panic(err) // only for a size < 1
		}
		m.lru = l
	}
	m.lru.Add(id, d)
}

// add remembers customer events whose slot effects were carried out.
func (m *convergedMemo) add(recs []events.Recorded) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		m.put(r.ID, decidedOn{})
	}
}

// addSlots remembers slot events decided on the customer's stream at
// version.
func (m *convergedMemo) addSlots(recs []events.Recorded, stream string, version int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		m.put(r.ID, decidedOn{stream: stream, version: version})
	}
}

// take returns what is remembered of id, and forgets it: the keeper
// handles an event once.
func (m *convergedMemo) take(id uuid.UUID) (decidedOn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lru == nil {
		return decidedOn{}, false
	}
	d, ok := m.lru.Peek(id)
	if ok {
		m.lru.Remove(id)
	}
	return d, ok
}
