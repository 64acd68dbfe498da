package commands

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/custody/custody/domain/staff"
)

// staffCacheSize bounds how many staff aggregates a Handler keeps. A busy
// member's stream holds one event per customer add, delete and handover
// (tens of thousands); rebuilding it for every add would make each add
// O(customers). Kept aggregates are caught up by reading only the events
// appended since, so a stale one is never decided on.
const staffCacheSize = 4096

type staffEntry struct {
	mu sync.Mutex // held while the aggregate is caught up, decided on, appended to
	s  *staff.Staff
	// baseAt and snapSize are the version and size of the last snapshot
	// of s read or written (-1 and 0: none), snapAt the version of the
	// last snapshot or delta read or written (-1: none), see
	// Handler.snapshot.
	baseAt, snapAt int64
	snapSize       int

	// decisions waiting for the member, and whether a goroutine leads a
	// batch of them (see staffBatch)
	qmu     sync.Mutex
	queue   []*staffDecision
	leading bool
}

// staffCache keeps staff members' aggregates (see staffCacheSize).
type staffCache struct{ keptCache[staffEntry] }

func (c *staffCache) entry(corpID, id string) *staffEntry {
	return c.keptCache.entry(staffCacheSize, corpID, id)
}

// keptCache keeps the last size entries used, by corp and aggregate id.
type keptCache[E any] struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *E]
}

// entry returns the cache slot of one aggregate, the most recently used.
// When the cache is full the least recently used entry is dropped; a
// goroutine still using it keeps working on its own copy, which is safe
// because every append is checked against the stream's exact version.
func (c *keptCache[E]) entry(size int, corpID, id string) *E {
	key := corpID + "\x00" + id
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru == nil {
		l, err := simplelru.NewLRU[string, *E](size, nil)
		if err != nil {
			panic(err) // only for a size < 1
		}
		c.lru = l
	}
	if e, ok := c.lru.Get(key); ok {
		return e
	}
	e := new(E)
	c.lru.Add(key, e)
	return e
}

// keyedLocks are mutexes by key, kept only while held or waited for.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
