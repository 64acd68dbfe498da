package commands

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// LogSettings is the SettingsSource of a deployment: each corp's settings
// are what its settings stream (events.CorpSettingsStream) last recorded
// (ChangeCorpSettings), WeCom's defaults for a corp that never changed
// them.
//
// It keeps each corp's settings in memory with the stream version they
// were read at. Every lookup reads the stream from the next version on —
// one indexed read that returns nothing while the settings are unchanged
// — so a change made through any instance of custody applies to the next
// command of every instance. Concurrent lookups of a corp share reads: a
// lookup waits for a read that starts after it arrived (the one queued
// behind the read in flight, which every lookup arriving meanwhile
// joins), so it still sees every change committed before it began, and a
// corp costs at most one read at a time however many commands look it
// up. MaxAge > 0 trades that for fewer reads: a corp's settings are then
// served from memory for up to MaxAge after they were last checked (a
// change, wherever made, applies after at most MaxAge; Invalidate forgets
// a corp at once).
//
// Safe for concurrent use.
type LogSettings struct {
	Log eventlog.EventLog
	// MaxAge is how long a corp's settings may be served without looking
	// at its stream. Zero: look every time.
	MaxAge time.Duration
	// Clock times MaxAge; default SystemClock.
	Clock Clock

	mu    sync.Mutex
	corps map[string]*cachedConfig
}

// cachedConfig is a corp's settings as last read, and its reads: the one
// in flight and the one queued behind it.
type cachedConfig struct {
	mu      sync.Mutex
	cfg     *corp.Config
	checked time.Time
	reading *settingsRead
	queued  *settingsRead
}

// settingsRead is one read of a corp's settings stream, shared by the
// lookups waiting for it.
type settingsRead struct {
	done chan struct{}
	set  corp.Settings
	err  error
}

// settingsReadTimeout bounds one shared read: it runs on its own, since
// the lookups waiting for it may each give up.
const settingsReadTimeout = 30 * time.Second

var _ SettingsSource = (*LogSettings)(nil)

// Settings implements SettingsSource.
func (s *LogSettings) Settings(ctx context.Context, corpID string) (corp.Settings, error) {
	if corpID == "" {
		return corp.Settings{}, &UnknownCorpError{}
	}
	s.mu.Lock()
	if s.corps == nil {
		s.corps = map[string]*cachedConfig{}
	}
	c := s.corps[corpID]
	if c == nil {
		c = &cachedConfig{}
		s.corps[corpID] = c
	}
	s.mu.Unlock()

	c.mu.Lock()
	if c.cfg != nil && s.MaxAge > 0 && s.now().Sub(c.checked) < s.MaxAge {
		set := c.cfg.Settings()
		c.mu.Unlock()
		return set, nil
	}
	rd := c.queued
	switch {
	case c.reading == nil:
		rd = &settingsRead{done: make(chan struct{})}
		c.reading = rd
		go s.read(context.WithoutCancel(ctx), corpID, c)
	case rd == nil:
		// The read in flight may have started before a change this
		// lookup must see: wait for the next.
		rd = &settingsRead{done: make(chan struct{})}
		c.queued = rd
	}
	c.mu.Unlock()
	select {
	case <-rd.done:
		return rd.set, rd.err
	case <-ctx.Done():
		return corp.Settings{}, ctx.Err()
	}
}

// read carries out the corp's reads, the one in flight and then each one
// queued behind it, until none is queued.
func (s *LogSettings) read(ctx context.Context, corpID string, c *cachedConfig) {
	c.mu.Lock()
	rd := c.reading
	c.mu.Unlock()
	for rd != nil {
		rctx, cancel := context.WithTimeout(ctx, settingsReadTimeout)
		rd.set, rd.err = s.readOnce(rctx, corpID, c)
		cancel()
		close(rd.done)
		c.mu.Lock()
		rd, c.queued = c.queued, nil
		c.reading = rd
		c.mu.Unlock()
	}
}

// readOnce reads the corp's settings stream after the version known and
// returns the settings it leaves.
func (s *LogSettings) readOnce(ctx context.Context, corpID string, c *cachedConfig) (corp.Settings, error) {
	now := s.now()
	c.mu.Lock()
	from := int64(0)
	if c.cfg != nil {
		from = c.cfg.Version() + 1
	}
	c.mu.Unlock()
	recs, err := s.Log.ReadStream(ctx, events.CorpSettingsStream(corpID), from)
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return corp.Settings{}, fmt.Errorf("commands: settings of corp %q: %w", corpID, err)
	}
	// Only this corp's read in flight changes c.cfg; lookups within MaxAge
	// read it under c.mu.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg == nil {
		c.cfg = corp.NewConfig()
	}
	if err := c.cfg.Replay(recs); err != nil {
		c.cfg = nil // half-applied: read it all again next time
		return corp.Settings{}, &StreamError{Stream: events.CorpSettingsStream(corpID), Err: err}
	}
	c.checked = now
	set := c.cfg.Settings()
	if err := set.Validate(); err != nil {
		return corp.Settings{}, fmt.Errorf("commands: settings of corp %q: %w", corpID, err)
	}
	return set, nil
}

// Invalidate forgets what is cached of corpID, so the next lookup reads
// its stream whatever MaxAge says.
func (s *LogSettings) Invalidate(corpID string) {
	s.mu.Lock()
	delete(s.corps, corpID)
	s.mu.Unlock()
}

func (s *LogSettings) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

// CorpConfig reads a corp's settings stream in full: its current settings
// and the audit trail of every change (who, when, what). A corp that never
// changed its settings has WeCom's defaults and no history.
func CorpConfig(ctx context.Context, log eventlog.EventLog, corpID string) (*corp.Config, error) {
	if corpID == "" {
		return nil, invalid("corp_id", "required")
	}
	recs, err := log.ReadStream(ctx, events.CorpSettingsStream(corpID), 0)
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, err
	}
	cfg, err := corp.RehydrateConfig(recs)
	if err != nil {
		return nil, &StreamError{Stream: events.CorpSettingsStream(corpID), Err: err}
	}
	return cfg, nil
}
