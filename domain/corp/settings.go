// Package corp holds the per-corp settings that parameterise custody's
// domain rules. Every limit WeCom imposes on customer contact is a field here
// with WeCom's documented default, so a tenant with a different contract (or
// a test) can change it without touching the rules.
package corp

import (
	"errors"
	"fmt"
	"sync"
	"time"

	// The IANA time zone database inside the binary: a corp's time zone
	// loads on any machine, also one without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Day is 24 hours. Windows measured in days are exact multiples of it: no
// calendar or daylight-saving arithmetic is involved.
const Day = 24 * time.Hour

// WeCom's defaults (see WECOM.md).
const (
	DefaultStaffCapacity            = 20000
	DefaultHandoverWindow           = 24 * time.Hour
	DefaultInServiceHandoverLimit   = 2
	DefaultInServiceHandoverPeriod  = 90 * Day
	DefaultMaxHandoverBatch         = 100
	DefaultMaxHandoverMessage       = 200
	DefaultResignedAssignmentWindow = 365 * Day
	DefaultGroupMaxMembers          = 500
	DefaultGroupTransferLimit       = 2
	DefaultGroupTransferPeriod      = 90 * Day
	// DefaultTimeZone is WeCom's (China Standard Time, no daylight saving).
	DefaultTimeZone = "Asia/Shanghai"
)

// Settings are one corp's limits. The zero value of a field means "WeCom's
// default" once WithDefaults has run; Validate rejects impossible values.
type Settings struct {
	// StaffCapacity is the most customers one staff member serves, unless the
	// member has an individual capacity (staff.joined / capacity_changed).
	StaffCapacity int
	// HandoverWindow is how long a customer may refuse a handover; the
	// handover completes once it is over.
	HandoverWindow time.Duration
	// InServiceHandoverLimit in-service handovers of one customer are allowed
	// within InServiceHandoverPeriod.
	InServiceHandoverLimit  int
	InServiceHandoverPeriod time.Duration
	// MaxHandoverBatch is the most customers one handover request covers.
	MaxHandoverBatch int
	// MaxHandoverMessage is the longest message to customers, in characters
	// (Unicode code points, as WeCom counts them).
	MaxHandoverMessage int
	// ResignedAssignmentWindow is how long after a departure the departed
	// member's relations can still be assigned to someone else.
	ResignedAssignmentWindow time.Duration
	// GroupMaxMembers is the most members a customer group holds.
	GroupMaxMembers int
	// GroupTransferLimit in-service owner transfers of one group are allowed
	// within GroupTransferPeriod.
	GroupTransferLimit  int
	GroupTransferPeriod time.Duration
	// HandoversInWeCom: the corp's handovers are carried out in WeCom
	// (the corp is connected with an app secret). custody then never
	// completes them by its own 24-hour rule (SettleDue leaves them);
	// their outcome is WeCom's transfer result.
	HandoversInWeCom bool
	// TimeZone is the corp's IANA time zone name (e.g. "Asia/Shanghai"):
	// where its calendar days begin. Empty means DefaultTimeZone.
	TimeZone string
}

// Location is the corp's time zone; DefaultTimeZone's when TimeZone is
// empty or (never after Validate) unknown.
func (s Settings) Location() *time.Location {
	name := s.TimeZone
	if name == "" {
		name = DefaultTimeZone
	}
	loc, err := loadLocation(name)
	if err != nil {
		loc, _ = loadLocation(DefaultTimeZone)
	}
	return loc
}

// locations caches time.LoadLocation, which reads the zone database on
// every call: settings are validated for every command.
var locations sync.Map // name -> *time.Location

func loadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}

// Defaults returns WeCom's limits.
func Defaults() Settings {
	return Settings{
		StaffCapacity:            DefaultStaffCapacity,
		HandoverWindow:           DefaultHandoverWindow,
		InServiceHandoverLimit:   DefaultInServiceHandoverLimit,
		InServiceHandoverPeriod:  DefaultInServiceHandoverPeriod,
		MaxHandoverBatch:         DefaultMaxHandoverBatch,
		MaxHandoverMessage:       DefaultMaxHandoverMessage,
		ResignedAssignmentWindow: DefaultResignedAssignmentWindow,
		GroupMaxMembers:          DefaultGroupMaxMembers,
		GroupTransferLimit:       DefaultGroupTransferLimit,
		GroupTransferPeriod:      DefaultGroupTransferPeriod,
		TimeZone:                 DefaultTimeZone,
	}
}

// WithDefaults returns s with every zero field set to WeCom's default, so a
// corp's configuration only names what it overrides.
func (s Settings) WithDefaults() Settings {
	d := Defaults()
	setInt(&s.StaffCapacity, d.StaffCapacity)
	setDur(&s.HandoverWindow, d.HandoverWindow)
	setInt(&s.InServiceHandoverLimit, d.InServiceHandoverLimit)
	setDur(&s.InServiceHandoverPeriod, d.InServiceHandoverPeriod)
	setInt(&s.MaxHandoverBatch, d.MaxHandoverBatch)
	setInt(&s.MaxHandoverMessage, d.MaxHandoverMessage)
	setDur(&s.ResignedAssignmentWindow, d.ResignedAssignmentWindow)
	setInt(&s.GroupMaxMembers, d.GroupMaxMembers)
	setInt(&s.GroupTransferLimit, d.GroupTransferLimit)
	setDur(&s.GroupTransferPeriod, d.GroupTransferPeriod)
	if s.TimeZone == "" {
		s.TimeZone = d.TimeZone
	}
	return s
}

func setInt(p *int, d int) {
	if *p == 0 {
		*p = d
	}
}

func setDur(p *time.Duration, d time.Duration) {
	if *p == 0 {
		*p = d
	}
}

// ErrInvalidSettings is wrapped by every error Validate returns.
var ErrInvalidSettings = errors.New("corp: invalid settings")

// Validate reports every field that is not positive, above its limit
// (Limits), or not an IANA time zone, joined.
func (s Settings) Validate() error {
	var errs []error
	for _, f := range Fields {
		if f.kind == kindTimeZone {
			continue
		}
		v := f.number(s)
		switch {
		case v <= 0:
			errs = append(errs, fmt.Errorf("%w: %s must be positive, got %d", ErrInvalidSettings, f.Name, v))
		case v > f.max:
			errs = append(errs, fmt.Errorf("%w: %s must be at most %s, got %s", ErrInvalidSettings, f.Name, f.format(f.max), f.format(v)))
		case f.kind == kindDuration && v%int64(time.Second) != 0:
			errs = append(errs, fmt.Errorf("%w: %s must be whole seconds, got %s", ErrInvalidSettings, f.Name, f.format(v)))
		}
	}
	if s.TimeZone != "" {
		if err := checkTimeZone(s.TimeZone); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkTimeZone(name string) error {
	// time.LoadLocation also takes "Local" and "UTC"; a corp names a zone.
	if name == "Local" {
		return fmt.Errorf("%w: time_zone must be an IANA time zone name such as Asia/Shanghai, got \"Local\"", ErrInvalidSettings)
	}
	if _, err := loadLocation(name); err != nil {
		return fmt.Errorf("%w: time_zone must be an IANA time zone name such as Asia/Shanghai, got %q", ErrInvalidSettings, name)
	}
	return nil
}
