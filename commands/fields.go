package commands

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/custody/custody/events/eventlog"
)

// The input rules every command applies to its fields, whoever feeds it (the
// HTTP API, the WeCom connector, an import). A field breaking one returns a
// *FieldError naming it, and nothing is appended. ValidateAppend applies the
// text rule once more to every string of every event, so a log never stores
// text a projection cannot hold.

// Text rule: a text field is valid UTF-8 without control characters
// (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) other than tab (\t)
// and newline (\n), without surrogate code points and without Unicode
// noncharacters (U+FDD0-U+FDEF and U+xFFFE/U+xFFFF of every plane). Carriage
// returns are refused too: "\r\n" line ends are to be normalised to "\n"
// by whoever reads them from a client.
//
// Length limits are in characters (Unicode code points), not bytes.
const (
	// MaxNameLen bounds names: customer_name, a staff member's name, a
	// group member's nickname, a group's name.
	MaxNameLen = 256
	// MaxRemarkLen bounds a relation's remark.
	MaxRemarkLen = 256
	// MaxDescriptionLen bounds a relation's description.
	MaxDescriptionLen = 2048
	// MaxNoticeLen bounds a group's notice.
	MaxNoticeLen = 4096
	// MaxCodeLen bounds short codes: a relation's state (channel code), a
	// moments change's source, an actor, correlation and causation ids.
	MaxCodeLen = 128
	// MaxPhones and MaxPhoneLen bound a relation's phone numbers.
	MaxPhones   = 20
	MaxPhoneLen = 32
	// MaxTags and MaxTagLen bound a relation's tags.
	MaxTags   = 100
	MaxTagLen = 128
)

// Integer ranges.
const (
	// MaxCapacity is the highest individual capacity a staff member can
	// have; 0 means the corp's default (corp.Settings.StaffCapacity).
	MaxCapacity = 1_000_000
	// MaxAddWay is the highest WeCom add_way code accepted: the range of a
	// 32-bit column. add_way is 0..MaxAddWay.
	MaxAddWay = 1<<31 - 1
)

// Time bounds of Meta.OccurredAt.
var (
	// MinOccurredAt is the earliest business time a command accepts: WeCom's
	// external contacts did not exist before it, and a time before it is a
	// client's zero value or unit mistake, not a late fact.
	MinOccurredAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// MaxClockSkew is how far Meta.OccurredAt may lie after the handler's clock:
// a sender's clock may run a little ahead, a fact from the future may not.
const MaxClockSkew = 5 * time.Minute

// checkText applies the text rule and a length limit of max characters to
// one field.
func checkText(field, s string, max int) error {
	if p := eventlog.TextProblem(s); p != "" {
		return invalid(field, "%s", p)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "%d characters, at most %d", n, max)
	}
	return nil
}

// checkTexts applies checkText to every element of a list of at most
// maxItems, naming the element (phones[2]).
func checkTexts(field string, ss []string, maxItems, maxLen int) error {
	if len(ss) > maxItems {
		return invalid(field, "%d entries, at most %d", len(ss), maxItems)
	}
	for i, s := range ss {
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), s, maxLen); err != nil {
			return err
		}
	}
	return nil
}

// checkRange refuses an integer outside [min, max].
func checkRange(field string, v, min, max int) error {
	if v < min || v > max {
		return invalid(field, "must be between %d and %d", min, max)
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkRelationFields checks the editable fields of a relation
// (StartRelation, EditRelation).
func checkRelationFields(tags []string, name, remark, description string, phones []string) error {
	return firstError(
		checkTexts("tags", tags, MaxTags, MaxTagLen),
		checkText("customer_name", name, MaxNameLen),
		checkText("remark", remark, MaxRemarkLen),
		checkText("description", description, MaxDescriptionLen),
		checkTexts("phones", phones, MaxPhones, MaxPhoneLen),
	)
}

// checkMeta checks the envelope fields of a command against the text rule
// and OccurredAt against [MinOccurredAt, now+MaxClockSkew].
func checkMeta(m Meta, now time.Time) error {
	if err := firstError(
		checkText("actor", m.Actor, MaxCodeLen),
		checkText("command_id", m.CommandID, MaxCodeLen),
		checkText("correlation_id", m.CorrelationID, MaxCodeLen),
		checkText("causation_id", m.CausationID, MaxCodeLen),
	); err != nil {
		return err
	}
	if m.OccurredAt.IsZero() {
		return nil
	}
	if m.OccurredAt.Before(MinOccurredAt) {
		return invalid("occurred_at", "before %s", MinOccurredAt.Format(time.RFC3339))
	}
	if m.OccurredAt.After(now.Add(MaxClockSkew)) {
		return invalid("occurred_at", "more than %s after the server's clock", MaxClockSkew)
	}
	return nil
}

// checkStartRelation checks StartRelation's own fields: add_way in
// [0, MaxAddWay], state a short code, and the relation's editable fields.
func checkStartRelation(cmd StartRelation) error {
	return firstError(
		checkRange("add_way", cmd.AddWay, 0, MaxAddWay),
		checkText("state", cmd.State, MaxCodeLen),
		checkRelationFields(cmd.Tags, cmd.CustomerName, cmd.Remark, cmd.Description, cmd.Phones),
	)
}

// checkHandoverFields applies the text rule to RequestHandover's message
// (its length is the corp's MaxHandoverMessage, checked with the rest of
// the request).
func checkHandoverFields(cmd RequestHandover) error {
	if p := eventlog.TextProblem(cmd.Message); p != "" {
		return invalid("message", "%s", p)
	}
	return nil
}
