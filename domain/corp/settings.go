// Package corp holds the per-corp settings that parameterise custody's
// domain rules. Every limit WeCom imposes on customer contact is a field here
// with WeCom's documented default, so a tenant with a different contract (or
// a test) can change it without touching the rules.
package corp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	// MassMessageCapDay, MassMessageCapWeek and MassMessageCapMonth are
	// the most mass messages (客户群发, 客户群群发) one customer or customer
	// group receives per calendar day, ISO week (Monday to Sunday) and
	// calendar month in TimeZone. Every window that is not off applies.
	// The zero Cap is WeCom's default for the window: day and week off,
	// month as many as the month has days.
	MassMessageCapDay   Cap
	MassMessageCapWeek  Cap
	MassMessageCapMonth Cap
}

// Cap is the limit of one mass-message window: a number of messages
// (> 0), CapOff, CapDaysInMonth (month only), or zero for the window's
// WeCom default (see Settings). Settings keep a window's default as zero,
// so settings that equal the defaults compare equal to Defaults().
type Cap int

const (
	// CapOff: the window limits nothing.
	CapOff Cap = -1
	// CapDaysInMonth: as many messages as the calendar month has days
	// (WeCom's rule since 2023; month window only).
	CapDaysInMonth Cap = -2
)

// MaxCap is the largest number a cap window accepts.
const MaxCap = 1000

// Window limits of mass messages, by window name (WindowDay, ...).
const (
	WindowDay   = "day"
	WindowWeek  = "week"
	WindowMonth = "month"
)

// windowDefault is WeCom's default of a window.
func windowDefault(window string) Cap {
	if window == WindowMonth {
		return CapDaysInMonth
	}
	return CapOff
}

// Resolve is c for window with the default made explicit: CapOff,
// CapDaysInMonth or a number.
func (c Cap) Resolve(window string) Cap {
	if c == 0 {
		return windowDefault(window)
	}
	return c
}

// normal is c with the window's default written as zero.
func (c Cap) normal(window string) Cap {
	if c == windowDefault(window) {
		return 0
	}
	return c
}

// Limit is how many messages the window allows at `at` (in the window's
// month, for CapDaysInMonth), and false when the window is off.
func (c Cap) Limit(window string, at time.Time) (int, bool) {
	switch r := c.Resolve(window); {
	case r == CapOff:
		return 0, false
	case r == CapDaysInMonth:
		y, m, _ := at.Date()
		return time.Date(y, m+1, 0, 0, 0, 0, 0, at.Location()).Day(), true
	default:
		return int(r), true
	}
}

// valid reports whether c is a value of window.
func (c Cap) valid(window string) bool {
	switch {
	case c == 0, c == CapOff:
		return true
	case c == CapDaysInMonth:
		return window == WindowMonth
	}
	return c >= 1 && c <= MaxCap
}

// Format writes c as settings text: "off", "days_in_month" or the number.
func (c Cap) Format(window string) string {
	switch r := c.Resolve(window); {
	case r == CapOff:
		return "off"
	case r == CapDaysInMonth:
		return "days_in_month"
	default:
		return strconv.Itoa(int(r))
	}
}

// ParseCap reads settings text for a window: "off", "days_in_month"
// (month only) or a whole number from 1 to MaxCap.
func ParseCap(window, text string) (Cap, error) {
	t := strings.TrimSpace(text)
	switch t {
	case "off":
		return CapOff.normal(window), nil
	case "days_in_month":
		if window != WindowMonth {
			return 0, fmt.Errorf("days_in_month is for the month window only")
		}
		return CapDaysInMonth.normal(window), nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return 0, fmt.Errorf("want off, a whole number or (month) days_in_month, got %q", text)
	}
	if n < 1 || n > MaxCap {
		return 0, fmt.Errorf("want a number from 1 to %d, got %d", MaxCap, n)
	}
	return Cap(n), nil
}

// Caps are the three mass-message windows, by window name.
func (s Settings) Caps() map[string]Cap {
	return map[string]Cap{WindowDay: s.MassMessageCapDay, WindowWeek: s.MassMessageCapWeek, WindowMonth: s.MassMessageCapMonth}
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
		if f.kind == kindCap {
			if c := *f.ptrCap(&s); !c.valid(f.window) {
				errs = append(errs, fmt.Errorf("%w: %s must be off, 1 to %d or (month) days_in_month, got %d", ErrInvalidSettings, f.Name, MaxCap, c))
			}
			continue
		}
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
