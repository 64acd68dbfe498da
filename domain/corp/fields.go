package corp

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

type fieldKind int

const (
	kindInt fieldKind = iota
	kindDuration
	kindTimeZone
	kindCap
)

// Field is one setting a corp may change, by its name in the API, the CLI
// and the corp.settings_changed event.
type Field struct {
	// Name is the snake_case name (staff_capacity, handover_window, ...).
	Name string
	kind fieldKind
	// max is the largest value accepted (a count, or nanoseconds).
	max int64
	// Doc says what the field means and what it accepts.
	Doc    string
	ptrInt func(*Settings) *int
	ptrDur func(*Settings) *time.Duration
	ptrCap func(*Settings) *Cap
	// window is a cap field's window (WindowDay, ...).
	window string
}

// Fields are the settings a corp may change, in a fixed order.
// HandoversInWeCom is not among them: it follows from the corp's WeCom
// connection (custody wecom connect).
var Fields = []Field{
	intField("staff_capacity", 1_000_000, func(s *Settings) *int { return &s.StaffCapacity },
		"customers one staff member serves at most, unless the member has a capacity of their own"),
	durField("handover_window", 30*Day, func(s *Settings) *time.Duration { return &s.HandoverWindow },
		"how long a customer may refuse a handover; it completes when the window is over"),
	intField("in_service_handover_limit", 1000, func(s *Settings) *int { return &s.InServiceHandoverLimit },
		"in-service handovers of one customer allowed within in_service_handover_period"),
	durField("in_service_handover_period", 3650*Day, func(s *Settings) *time.Duration { return &s.InServiceHandoverPeriod },
		"the period in_service_handover_limit counts over"),
	intField("max_handover_batch", 1000, func(s *Settings) *int { return &s.MaxHandoverBatch },
		"customers one handover request covers at most"),
	intField("max_handover_message", 10_000, func(s *Settings) *int { return &s.MaxHandoverMessage },
		"characters of the message to customers at most"),
	durField("resigned_assignment_window", 3650*Day, func(s *Settings) *time.Duration { return &s.ResignedAssignmentWindow },
		"how long after a departure the departed member's customers can be handed over (resigned handover window)"),
	intField("group_max_members", 100_000, func(s *Settings) *int { return &s.GroupMaxMembers },
		"members of a customer group at most"),
	intField("group_transfer_limit", 1000, func(s *Settings) *int { return &s.GroupTransferLimit },
		"in-service owner transfers of one group allowed within group_transfer_period"),
	durField("group_transfer_period", 3650*Day, func(s *Settings) *time.Duration { return &s.GroupTransferPeriod },
		"the period group_transfer_limit counts over"),
	{Name: "time_zone", kind: kindTimeZone,
		Doc: "the corp's IANA time zone (where its days begin), e.g. Asia/Shanghai"},
	capField("mass_message_cap_day", WindowDay, func(s *Settings) *Cap { return &s.MassMessageCapDay },
		"mass messages one customer or customer group receives per calendar day in time_zone at most; off or 1 to 1000"),
	capField("mass_message_cap_week", WindowWeek, func(s *Settings) *Cap { return &s.MassMessageCapWeek },
		"mass messages one customer or customer group receives per week (Monday to Sunday, time_zone) at most; off or 1 to 1000"),
	capField("mass_message_cap_month", WindowMonth, func(s *Settings) *Cap { return &s.MassMessageCapMonth },
		"mass messages one customer or customer group receives per calendar month in time_zone at most; days_in_month (WeCom's rule), off or 1 to 1000"),
}

func capField(name, window string, p func(*Settings) *Cap, doc string) Field {
	return Field{Name: name, kind: kindCap, max: MaxCap, ptrCap: p, window: window, Doc: doc}
}

func intField(name string, max int64, p func(*Settings) *int, doc string) Field {
	return Field{Name: name, kind: kindInt, max: max, ptrInt: p, Doc: doc + fmt.Sprintf("; 1 to %d", max)}
}

func durField(name string, max time.Duration, p func(*Settings) *time.Duration, doc string) Field {
	return Field{Name: name, kind: kindDuration, max: int64(max), ptrDur: p,
		Doc: doc + fmt.Sprintf("; a duration in whole seconds up to %s: 24h, 90d, 1h30m", FormatDuration(max))}
}

func (f Field) number(s Settings) int64 {
	switch f.kind {
	case kindInt:
		return int64(*f.ptrInt(&s))
	case kindDuration:
		return int64(*f.ptrDur(&s))
	}
	return 0
}

func (f Field) format(v int64) string {
	if f.kind == kindDuration {
		return FormatDuration(time.Duration(v))
	}
	return strconv.FormatInt(v, 10)
}

// FieldByName finds a field.
func FieldByName(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldNames lists the names of Fields, sorted.
func FieldNames() []string {
	names := make([]string, len(Fields))
	for i, f := range Fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	return names
}

// Get is the field's value in s, as text (FormatDuration for durations).
func (f Field) Get(s Settings) string {
	switch f.kind {
	case kindTimeZone:
		return s.TimeZone
	case kindCap:
		return f.ptrCap(&s).Format(f.window)
	}
	return f.format(f.number(s))
}

// Set parses text into the field of s: an integer, a duration (ParseDuration)
// or a time zone name. The value is checked by Validate, not here.
func (f Field) Set(s *Settings, text string) error {
	switch f.kind {
	case kindInt:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%w: %s: want a whole number, got %q", ErrInvalidSettings, f.Name, text)
		}
		*f.ptrInt(s) = n
	case kindDuration:
		d, err := ParseDuration(text)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidSettings, f.Name, err)
		}
		*f.ptrDur(s) = d
	case kindTimeZone:
		s.TimeZone = text
	case kindCap:
		c, err := ParseCap(f.window, text)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidSettings, f.Name, err)
		}
		*f.ptrCap(s) = c
	}
	return nil
}

// Apply returns s with changes (field name → text value) set and checks
// the result. An unknown field name, a value that does not parse and a
// result Validate refuses are errors wrapping ErrInvalidSettings; every
// problem is reported, joined.
func (s Settings) Apply(changes map[string]string) (Settings, error) {
	var errs []error
	names := make([]string, 0, len(changes))
	for n := range changes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, ok := FieldByName(n)
		if !ok {
			errs = append(errs, fmt.Errorf("%w: unknown setting %q (known: %s)", ErrInvalidSettings, n, strings.Join(FieldNames(), ", ")))
			continue
		}
		if err := f.Set(&s, changes[n]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Settings{}, err
	}
	if s.TimeZone == "" {
		return Settings{}, fmt.Errorf("%w: time_zone must be an IANA time zone name such as Asia/Shanghai, got \"\"", ErrInvalidSettings)
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Values are s's fields as text, by name.
func (s Settings) Values() map[string]string {
	out := make(map[string]string, len(Fields))
	for _, f := range Fields {
		out[f.Name] = f.Get(s)
	}
	return out
}

// ParseDuration reads a duration as time.ParseDuration does, and also
// whole days: "90d", "365d". Negative values and values that are not
// whole seconds parse; Validate refuses them.
func ParseDuration(text string) (time.Duration, error) {
	t := strings.TrimSpace(text)
	if days, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > math.MaxInt64/int64(Day) || n < -math.MaxInt64/int64(Day) {
			return 0, fmt.Errorf("want a duration such as 24h, 90d or 1h30m, got %q", text)
		}
		return time.Duration(n) * Day, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 24h, 90d or 1h30m, got %q", text)
	}
	return d, nil
}

// FormatDuration writes whole days from 2 days on as "90d" and anything
// else as time.Duration does, without zero minutes or seconds ("24h",
// "1h30m").
func FormatDuration(d time.Duration) string {
	if d >= 2*Day && d%Day == 0 {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}
