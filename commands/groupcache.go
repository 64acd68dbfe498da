package commands

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// groupCacheSize bounds how many group chat aggregates a Handler keeps.
// A group's stream holds every join, leave, rename and owner change of
// its life; rebuilding it for every command on the group made each
// command cost the group's whole history. A kept aggregate is caught up
// by reading only the events appended since (by any process), so a stale
// one is never decided on, and every append is still checked against the
// stream's exact version.
const groupCacheSize = 1024

// groupEntry is one kept group. Its mutex is held from the catch-up read
// to the end of the command's append, so this process's commands on one
// group take turns instead of conflicting.
type groupEntry struct {
	mu sync.Mutex
	g  *groupchat.GroupChat // nil: not loaded (or dropped after a failed replay)
	// cmds maps a hash of each command id in the stream to the version of
	// its first event: execute must answer a command found already
	// recorded with its events (run.prior), which a full read found by
	// scanning the history. A hash collision costs one read, never a
	// wrong answer: the events read are compared by command id.
	cmds map[uint64]int64
}

type groupCache struct {
	mu   sync.Mutex
	lru  *simplelru.LRU[string, *groupEntry]
	seed maphash.Seed
}

// entry returns the cache slot of one group, the most recently used. An
// entry dropped from a full cache while a command uses it stays that
// command's own until it returns.
func (c *groupCache) entry(corpID, chatID string) *groupEntry {
	key := corpID + "\x00" + chatID
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru == nil {
		l, err := simplelru.NewLRU[string, *groupEntry](groupCacheSize, nil)
		if err != nil {
			panic(err) // only for a size < 1
		}
		c.lru = l
		c.seed = maphash.MakeSeed()
	}
	if e, ok := c.lru.Get(key); ok {
		return e
	}
	e := &groupEntry{}
	c.lru.Add(key, e)
	return e
}

// fetch catches the kept group up with its stream and returns it with the
// events of r's command already in the stream (none for a new command).
// e.mu must be held.
func (c *groupCache) fetch(ctx context.Context, r *run, e *groupEntry, stream, chatID string) (*groupchat.GroupChat, []events.Recorded, error) {
	if e.g == nil {
		g, err := groupchat.New(chatID)
		if err != nil {
			return nil, nil, &StreamError{Stream: stream, Err: err}
		}
		e.g, e.cmds = g, map[uint64]int64{}
	}
	recs, err := r.read(ctx, stream, e.g.Version()+1)
	if err != nil {
		return nil, nil, err
	}
	if err := e.g.Replay(recs...); err != nil {
		e.g, e.cmds = nil, nil // half-applied: read it whole next time
		return nil, nil, &StreamError{Stream: stream, Err: err}
	}
	for _, rec := range recs {
		if rec.CommandID == "" {
			continue
		}
		h := maphash.String(c.seed, rec.CommandID)
		if _, ok := e.cmds[h]; !ok {
			e.cmds[h] = rec.StreamVersion
		}
	}
	if r.meta.CommandID == "" {
		return e.g, nil, nil
	}
	from, ok := e.cmds[maphash.String(c.seed, r.meta.CommandID)]
	if !ok {
		return e.g, nil, nil
	}
	recs, err = r.read(ctx, stream, from)
	if err != nil {
		return nil, nil, err
	}
	return e.g, r.prior(recs), nil
}
