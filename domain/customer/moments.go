package customer

import (
	"fmt"

	"github.com/custody/custody/events"
)

// OptOutMoments records that the customer no longer wants the member's
// moments. The customer must have (or have had) a relation with the member;
// opting out twice records nothing.
func (c *Customer) OptOutMoments(staffID, source string) ([]events.Payload, error) {
	if staffID == "" {
		return nil, fmt.Errorf("%w: empty staff id", ErrInvalidArgument)
	}
	if c.relations[staffID] == nil {
		return nil, ErrRelationNotFound
	}
	if c.optedOut[staffID] {
		return nil, nil
	}
	return []events.Payload{&events.MomentsOptedOut{CustomerID: c.id, StaffID: staffID, Source: source}}, nil
}

// OptInMoments records that the customer sees the member's moments again.
// Opting in without an opt-out records nothing.
func (c *Customer) OptInMoments(staffID, source string) ([]events.Payload, error) {
	if staffID == "" {
		return nil, fmt.Errorf("%w: empty staff id", ErrInvalidArgument)
	}
	if !c.optedOut[staffID] {
		return nil, nil
	}
	return []events.Payload{&events.MomentsOptedIn{CustomerID: c.id, StaffID: staffID, Source: source}}, nil
}
