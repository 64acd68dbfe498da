package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// onCustomer runs a decision on a customer's stream and mirrors its slot
// effects onto the staff streams.
func (r *run) onCustomer(ctx context.Context, customerID string, decide func(*customer.Customer) ([]events.Payload, error)) (Result, error) {
	if customerID == "" {
		return Result{}, invalid("customer_id", "required")
	}
	defer r.h.customers.lock(r.meta.CorpID + "\x00" + customerID)()
	return execute(ctx, r, step[*customer.Customer]{
		stream: events.CustomerStream(r.meta.CorpID, customerID),
		load:   func(h []events.Recorded) (*customer.Customer, error) { return customer.Rehydrate(customerID, h) },
		decide: decide,
		after:  r.slotEffects,
		replay: func(c *customer.Customer, recs []events.Recorded) error { return c.Replay(recs...) },
		afterCurrent: func(ctx context.Context, c *customer.Customer, pays []events.Payload) error {
			return r.slotEffectsOn(ctx, c, pays, true)
		},
	})
}

// onStaffCommand runs a staff command (join, depart, capacity) on the
// member's stream.
func (r *run) onStaffCommand(ctx context.Context, staffID string, decide func(*staff.Staff) ([]events.Payload, error),
	after func(context.Context, *staff.Staff, []events.Payload) error) (Result, error) {
	if staffID == "" {
		return Result{}, invalid("staff_id", "required")
	}
	return execute(ctx, r, step[*staff.Staff]{
		stream: events.StaffStream(r.meta.CorpID, staffID),
		load:   func(h []events.Recorded) (*staff.Staff, error) { return staff.Rehydrate(staffID, h) },
		decide: decide,
		after:  after,
	})
}

// onGroup runs a decision on a group chat's stream, kept between commands
// (see groupCache).
func (r *run) onGroup(ctx context.Context, chatID string, decide func(*groupchat.GroupChat) ([]events.Payload, error)) (Result, error) {
	if chatID == "" {
		return Result{}, invalid("chat_id", "required")
	}
	stream := events.GroupChatStream(r.meta.CorpID, chatID)
	e := r.h.groupCache.entry(r.meta.CorpID, chatID)
	e.mu.Lock()
	defer e.mu.Unlock()
	return execute(ctx, r, step[*groupchat.GroupChat]{
		stream: stream,
		fetch: func(ctx context.Context) (*groupchat.GroupChat, []events.Recorded, error) {
			return fetchGroup(ctx, r, e, stream, chatID)
		},
		decide: decide,
	})
}
