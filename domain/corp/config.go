package corp

import (
	"slices"
	"time"

	"github.com/custody/custody/events"
)

// Change is one recorded change of a corp's settings: the audit trail.
type Change struct {
	// Version is the event's version in the corp's settings stream.
	Version int64
	// At is when it was changed, By who (the command's actor), Changed the
	// fields that differ from before.
	At       time.Time
	By       string
	Changed  []string
	Settings Settings
}

// Config is a corp's settings as its stream (events.CorpSettingsStream)
// records them: WeCom's defaults until the first corp.settings_changed.
type Config struct {
	version  int64
	settings Settings
	history  []Change
}

// NewConfig is a corp without recorded settings: WeCom's defaults.
func NewConfig() *Config { return &Config{version: -1, settings: Defaults()} }

// RehydrateConfig rebuilds a corp's settings from its stream, oldest first.
func RehydrateConfig(history []events.Recorded) (*Config, error) {
	c := NewConfig()
	if err := c.Replay(history); err != nil {
		return nil, err
	}
	return c, nil
}

// Replay applies further events of the stream, oldest first.
func (c *Config) Replay(history []events.Recorded) error {
	return events.Replay("corp: settings", history, func(p events.Payload, r events.Recorded) error {
		if e, ok := p.(*events.CorpSettingsChanged); ok {
			s := FromEvent(e)
			c.settings = s
			c.history = append(c.history, Change{Version: r.StreamVersion, At: r.OccurredAt, By: e.ChangedBy,
				Changed: slices.Clone(e.Changed), Settings: s})
		}
		c.version = r.StreamVersion
		return nil
	})
}

// Version is the stream version of the last applied event, -1 for none.
func (c *Config) Version() int64 { return c.version }

// Settings are the corp's current settings.
func (c *Config) Settings() Settings { return c.settings }

// History is every recorded change, oldest first.
func (c *Config) History() []Change { return slices.Clone(c.history) }

// Change decides a change of settings to next (complete settings, as
// Settings.Apply returns them) by actor: a corp.settings_changed, or
// nothing when next equals the current settings. next is validated.
// HandoversInWeCom is not a recorded setting and is ignored.
func (c *Config) Change(next Settings, actor string) ([]events.Payload, error) {
	next.HandoversInWeCom = false
	if next.TimeZone == "" {
		next.TimeZone = DefaultTimeZone
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	var changed []string
	cur := c.settings.Values()
	for _, f := range Fields {
		if f.Get(next) != cur[f.Name] {
			changed = append(changed, f.Name)
		}
	}
	if len(changed) == 0 {
		return nil, nil
	}
	e := ToEvent(next)
	e.Changed, e.ChangedBy = changed, actor
	return []events.Payload{e}, nil
}

// ToEvent is s as a corp.settings_changed payload (without Changed and
// ChangedBy).
func ToEvent(s Settings) *events.CorpSettingsChanged {
	sec := func(d time.Duration) int64 { return int64(d / time.Second) }
	return &events.CorpSettingsChanged{
		StaffCapacity:                   s.StaffCapacity,
		HandoverWindowSeconds:           sec(s.HandoverWindow),
		InServiceHandoverLimit:          s.InServiceHandoverLimit,
		InServiceHandoverPeriodSeconds:  sec(s.InServiceHandoverPeriod),
		MaxHandoverBatch:                s.MaxHandoverBatch,
		MaxHandoverMessage:              s.MaxHandoverMessage,
		ResignedAssignmentWindowSeconds: sec(s.ResignedAssignmentWindow),
		GroupMaxMembers:                 s.GroupMaxMembers,
		GroupTransferLimit:              s.GroupTransferLimit,
		GroupTransferPeriodSeconds:      sec(s.GroupTransferPeriod),
		MassMessageCapDay:               s.MassMessageCapDay.Format(WindowDay),
		MassMessageCapWeek:              s.MassMessageCapWeek.Format(WindowWeek),
		MassMessageCapMonth:             s.MassMessageCapMonth.Format(WindowMonth),
		TimeZone:                        s.TimeZone,
	}
}

// eventCap reads a cap of a corp.settings_changed; text that does not
// parse (never written by ToEvent) takes the window's default.
func eventCap(window, text string) Cap {
	c, err := ParseCap(window, text)
	if err != nil {
		return 0
	}
	return c
}

// FromEvent is the settings a corp.settings_changed records; fields a
// later schema might leave out take WeCom's defaults.
func FromEvent(e *events.CorpSettingsChanged) Settings {
	sec := func(n int64) time.Duration { return time.Duration(n) * time.Second }
	return Settings{
		StaffCapacity:            e.StaffCapacity,
		HandoverWindow:           sec(e.HandoverWindowSeconds),
		InServiceHandoverLimit:   e.InServiceHandoverLimit,
		InServiceHandoverPeriod:  sec(e.InServiceHandoverPeriodSeconds),
		MaxHandoverBatch:         e.MaxHandoverBatch,
		MaxHandoverMessage:       e.MaxHandoverMessage,
		ResignedAssignmentWindow: sec(e.ResignedAssignmentWindowSeconds),
		GroupMaxMembers:          e.GroupMaxMembers,
		GroupTransferLimit:       e.GroupTransferLimit,
		GroupTransferPeriod:      sec(e.GroupTransferPeriodSeconds),
		MassMessageCapDay:        eventCap(WindowDay, e.MassMessageCapDay),
		MassMessageCapWeek:       eventCap(WindowWeek, e.MassMessageCapWeek),
		MassMessageCapMonth:      eventCap(WindowMonth, e.MassMessageCapMonth),
		TimeZone:                 e.TimeZone,
	}.WithDefaults()
}
