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
// command of every instance. MaxAge > 0 trades that for fewer reads: a
// corp's settings are then served from memory for up to MaxAge after they
// were last checked (a change, wherever made, applies after at most
// MaxAge; Invalidate forgets a corp at once).
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

type cachedConfig struct {
	mu      sync.Mutex
	cfg     *corp.Config
	checked time.Time
}

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
	defer c.mu.Unlock()
	now := s.now()
	if c.cfg != nil && s.MaxAge > 0 && now.Sub(c.checked) < s.MaxAge {
		return c.cfg.Settings(), nil
	}
	cfg := c.cfg
	if cfg == nil {
		cfg = corp.NewConfig()
	}
	recs, err := s.Log.ReadStream(ctx, events.CorpSettingsStream(corpID), cfg.Version()+1)
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return corp.Settings{}, fmt.Errorf("commands: settings of corp %q: %w", corpID, err)
	}
	if err := cfg.Replay(recs); err != nil {
		c.cfg = nil // half-applied: read it all again next time
		return corp.Settings{}, &StreamError{Stream: events.CorpSettingsStream(corpID), Err: err}
	}
	c.cfg, c.checked = cfg, now
	set := cfg.Settings()
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
