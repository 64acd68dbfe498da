// Package corp holds the per-corp settings that parameterise custody's
// domain rules. Every limit WeCom imposes on customer contact is a field here
// with WeCom's documented default, so a tenant with a different contract (or
// a test) can change it without touching the rules.
package corp

import (
	"errors"
	"fmt"
	"time"
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

// Validate reports every field that is not positive, joined.
func (s Settings) Validate() error {
	var errs []error
	pos := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%w: %s must be positive, got %d", ErrInvalidSettings, name, v))
		}
	}
	pos("StaffCapacity", int64(s.StaffCapacity))
	pos("HandoverWindow", int64(s.HandoverWindow))
	pos("InServiceHandoverLimit", int64(s.InServiceHandoverLimit))
	pos("InServiceHandoverPeriod", int64(s.InServiceHandoverPeriod))
	pos("MaxHandoverBatch", int64(s.MaxHandoverBatch))
	pos("MaxHandoverMessage", int64(s.MaxHandoverMessage))
	pos("ResignedAssignmentWindow", int64(s.ResignedAssignmentWindow))
	pos("GroupMaxMembers", int64(s.GroupMaxMembers))
	pos("GroupTransferLimit", int64(s.GroupTransferLimit))
	pos("GroupTransferPeriod", int64(s.GroupTransferPeriod))
	return errors.Join(errs...)
}
