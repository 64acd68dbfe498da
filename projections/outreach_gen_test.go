package projections

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// outreachRand is a writer's source for its outreach events: apart from
// the writer's own, so that adding them leaves the rest of a generated
// history as it was.
func outreachRand(seed uint64, w int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x6f75747265616368, uint64(w)))
}

// outreach appends, now and then, what the outreach projection follows
// besides relations and groups: deliveries (to the writer's customers and
// groups, some reported twice, some late by up to 40 days, some flagged or
// not counted), the messages' plans and outcomes, and, from writer 0, up
// to ten changes of the corp's time zone (also to one PostgreSQL does not
// know).
// Their times are the generator's clock's, which they do not move.
func (g *generator) outreach(ctx context.Context, r *rand.Rand, w, seq int, custs []*genCustomer, groups []*genGroup) error {
	zoned := w == 0 && seq%300 == 0 && seq <= 3000 // ten zone changes at most
	if !zoned && r.IntN(25) != 0 {
		return nil
	}
	now := base.Add(time.Duration(g.clock.Load()) * time.Second)
	add := func(stream string, at time.Time, p events.Payload) error {
		e, err := events.New(uuid.New(), events.Meta{CorpID: g.o.Corp, OccurredAt: at, Actor: "system"}, p)
		if err != nil {
			return err
		}
		if _, err := g.log.Append(ctx, stream, eventlog.ExpectAny, e); err != nil {
			return fmt.Errorf("append to %s: %w", stream, err)
		}
		g.count.Add(1)
		return nil
	}
	msg := fmt.Sprintf("om%d-%d", w, seq/50) // a message reaches several recipients
	channels := []string{events.ChannelMassMessage, events.ChannelMoments}
	switch k := r.IntN(40); {
	case zoned:
		zone := []string{"UTC", "America/New_York", corp.DefaultTimeZone, "Not/AZone"}[r.IntN(4)]
		set, err := corp.Defaults().Apply(map[string]string{"time_zone": zone})
		if err != nil {
			// A zone Go does not know: the event as an older writer might
			// have recorded it.
			set = corp.Defaults()
			ev := corp.ToEvent(set)
			ev.TimeZone = zone
			return add(events.CorpSettingsStream(g.o.Corp), now, ev)
		}
		return add(events.CorpSettingsStream(g.o.Corp), now, corp.ToEvent(set))
	case k < 4:
		return add(events.OutreachMessageStream(g.o.Corp, msg), now, &events.OutreachPlanned{MessageID: msg, Channel: channels[r.IntN(2)],
			StaffID: "s0", CustomerIDs: []string{custs[r.IntN(len(custs))].id}})
	case k < 8:
		var flagged []events.OutreachRecipient
		if r.IntN(3) == 0 {
			flagged = []events.OutreachRecipient{{CustomerID: custs[0].id, Reasons: []string{events.OutreachCapDay}}}
		}
		return add(events.OutreachMessageStream(g.o.Corp, msg), now, &events.OutreachSent{MessageID: msg, Channel: channels[r.IntN(2)],
			StaffID: "s0", CustomerIDs: []string{custs[r.IntN(len(custs))].id}, ReportedBy: events.ReportedByCustody, Flagged: flagged})
	case k < 10:
		return add(events.OutreachMessageStream(g.o.Corp, msg), now, &events.OutreachRefused{MessageID: msg, Channel: channels[r.IntN(2)],
			StaffID: "s0", Refused: []events.OutreachRecipient{{CustomerID: custs[r.IntN(len(custs))].id, Reasons: []string{events.OutreachCapWeek}}}})
	default:
		c := custs[r.IntN(len(custs))].id
		d := &events.OutreachDelivered{MessageID: msg, Channel: events.ChannelMassMessage, StaffID: "s0", CustomerID: c,
			ReportedBy: events.ReportedByCustody, Counted: true}
		stream := events.OutreachCustomerStream(g.o.Corp, c)
		switch o := r.IntN(10); {
		case o == 0:
			d.ReportedBy, d.Violations = events.ReportedByWeCom, []string{events.OutreachCapDay}
		case o == 1:
			d.Channel, d.Counted = events.ChannelMoments, false
		case o == 2 && len(groups) > 0:
			gr := groups[r.IntN(len(groups))].id
			d.CustomerID, d.ChatID, stream = "", gr, events.OutreachGroupStream(g.o.Corp, gr)
		}
		at := now.Add(-time.Duration(r.IntN(40*24)) * time.Hour)
		if err := add(stream, at, d); err != nil {
			return err
		}
		if r.IntN(6) == 0 { // reported again, later
			return add(stream, at.Add(time.Minute), d)
		}
	}
	return nil
}
