package commands

import (
	"context"
	"hash/maphash"
	"sync"

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

// groupCache keeps group chats' aggregates (see groupCacheSize).
type groupCache struct{ keptCache[groupEntry] }

func (c *groupCache) entry(corpID, chatID string) *groupEntry {
	return c.keptCache.entry(groupCacheSize, corpID, chatID)
}

// commandSeed hashes the command ids of groupEntry.cmds.
var commandSeed = maphash.MakeSeed()

// fetchGroup catches the kept group up with its stream and returns it with the
// events of r's command already in the stream (none for a new command).
// e.mu must be held.
func fetchGroup(ctx context.Context, r *run, e *groupEntry, stream, chatID string) (*groupchat.GroupChat, []events.Recorded, error) {
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
		h := maphash.String(commandSeed, rec.CommandID)
		if _, ok := e.cmds[h]; !ok {
			e.cmds[h] = rec.StreamVersion
		}
	}
	if r.meta.CommandID == "" {
		return e.g, nil, nil
	}
	from, ok := e.cmds[maphash.String(commandSeed, r.meta.CommandID)]
	if !ok {
		return e.g, nil, nil
	}
	recs, err = r.read(ctx, stream, from)
	if err != nil {
		return nil, nil, err
	}
	return e.g, r.prior(recs), nil
}
