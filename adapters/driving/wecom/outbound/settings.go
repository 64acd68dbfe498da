package outbound

import (
	"context"
	"sync"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
)

// Settings wraps a SettingsSource: a corp for which InWeCom reports true
// gets corp.Settings.HandoversInWeCom, so custody's settle job leaves its
// handovers to WeCom's transfer result. Answers are cached for TTL
// (default 30 s): commands look settings up on every call.
type Settings struct {
	Base commands.SettingsSource
	// InWeCom reports whether WeCom carries out the corp's handovers (the
	// corp is connected with an app secret).
	InWeCom func(ctx context.Context, corpID string) (bool, error)
	TTL     time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	in bool
	at time.Time
}

var _ commands.SettingsSource = (*Settings)(nil)

// Settings implements commands.SettingsSource.
func (s *Settings) Settings(ctx context.Context, corpID string) (corp.Settings, error) {
	set, err := s.Base.Settings(ctx, corpID)
	if err != nil {
		return set, err
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[corpID]
	s.mu.Unlock()
	if !ok || now.Sub(c.at) > ttl {
		in, err := s.InWeCom(ctx, corpID)
		if err != nil {
			return corp.Settings{}, err
		}
		c = cached{in: in, at: now}
		s.mu.Lock()
		if s.cache == nil {
			s.cache = map[string]cached{}
		}
		s.cache[corpID] = c
		s.mu.Unlock()
	}
	set.HandoversInWeCom = set.HandoversInWeCom || c.in
	return set, nil
}
