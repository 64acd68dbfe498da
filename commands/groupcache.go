package commands

import (
	"context"
	"hash/maphash"
	"slices"
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
	// cmds holds a hash of the command id of each command recorded in
	// the stream (8 bytes per command, in stream order): execute must
	// answer a command found already recorded with its events
	// (run.prior), which a full read found by scanning the history. A
	// command id whose hash is here is looked up in the stream read whole
	// (a retried command, or a hash collision: never a wrong answer).
	cmds []uint64
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
		e.g = g // e.cmds is nil with it
	}
	recs, err := r.read(ctx, stream, e.g.Version()+1)
	if err != nil {
		return nil, nil, err
	}
	if err := e.g.Replay(recs...); err != nil {
		e.g, e.cmds = nil, nil // half-applied: read it whole next time
		return nil, nil, &StreamError{Stream: stream, Err: err}
	}
	last := ""
	for _, rec := range recs {
		if rec.CommandID != "" && rec.CommandID != last {
			e.cmds = append(e.cmds, maphash.String(commandSeed, rec.CommandID))
		}
		last = rec.CommandID
	}
	if r.meta.CommandID == "" || !slices.Contains(e.cmds, maphash.String(commandSeed, r.meta.CommandID)) {
		return e.g, nil, nil
	}
	all, err := r.read(ctx, stream, 0)
	if err != nil {
		return nil, nil, err
	}
	return e.g, r.prior(all), nil
}
