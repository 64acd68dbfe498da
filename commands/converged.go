package commands

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// convergedSize bounds how many (customer, member) pairs a Handler
// remembers as converged.
const convergedSize = 1 << 16

// pairVersions are the versions of a customer's and a member's streams.
type pairVersions struct{ customer, staff int64 }

// convergedPairs remembers, per (corp, customer, member), the stream
// versions the last completed convergence of this Handler decided on: the
// customer's stream as of customer, the member's as of staff (including
// the slot events it appended). The SlotKeeper passes over an event of
// such a pair that those versions include: a convergence that ran after
// the event, on the streams with the event, already left the pair
// agreeing — what the keeper would do again. Anything later on either
// stream is another event the keeper handles. The memory is this
// process's: a convergence that died with its process left no mark, and
// the keeper of any process converges the pair as before.
type convergedPairs struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, pairVersions]
}

func pairKey(corpID, customerID, staffID string) string {
	return corpID + "\x00" + customerID + "\x00" + staffID
}

// mark records a completed convergence of the pair on v.
func (p *convergedPairs) mark(corpID, customerID, staffID string, v pairVersions) {
	key := pairKey(corpID, customerID, staffID)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lru == nil {
		l, err := simplelru.NewLRU[string, pairVersions](convergedSize, nil)
		if err != nil {
			panic(err) // only for a size < 1
		}
		p.lru = l
	}
	if old, ok := p.lru.Get(key); ok {
		v.customer, v.staff = max(v.customer, old.customer), max(v.staff, old.staff)
	}
	p.lru.Add(key, v)
}

// covers reports whether a completed convergence of the pair decided on
// the customer's stream at version customer or later and the member's at
// version staff or later.
func (p *convergedPairs) covers(corpID, customerID, staffID string, customer, staff int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lru == nil {
		return false
	}
	v, ok := p.lru.Get(pairKey(corpID, customerID, staffID))
	return ok && v.customer >= customer && v.staff >= staff
}
