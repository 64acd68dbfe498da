package customer

import (
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// RecordConsent records the customer's choice for a purpose
// (events.PurposeChatArchive, PurposeMarketing) at now. A choice equal to
// the latest one records nothing.
func (c *Customer) RecordConsent(purpose, state string, now time.Time) ([]events.Payload, error) {
	switch purpose {
	case events.PurposeChatArchive, events.PurposeMarketing:
	default:
		return nil, fmt.Errorf("%w: consent purpose %q", ErrInvalidArgument, purpose)
	}
	switch state {
	case events.ConsentAgree, events.ConsentDisagree, events.ConsentDefaultAgree:
	default:
		return nil, fmt.Errorf("%w: consent state %q", ErrInvalidArgument, state)
	}
	if cur, ok := c.consents[purpose]; ok && cur.State == state {
		return nil, nil
	}
	return []events.Payload{&events.ConsentRecorded{CustomerID: c.id, Purpose: purpose, State: state, ChangedAt: now}}, nil
}
