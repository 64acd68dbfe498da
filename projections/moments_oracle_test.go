package projections

import (
	"time"

	"github.com/custody/custody/events"
)

// sqlMoments is the batched SQL implementation of the moments projection
// that its fold replaced, kept as the test oracle of the fold (see
// oracles).
type sqlMoments struct{}

func (sqlMoments) Name() string                     { return Moments{}.Name() }
func (sqlMoments) Tables() []string                 { return Moments{}.Tables() }
func (sqlMoments) Migrations() []string             { return Moments{}.Migrations() }
func (m sqlMoments) Apply(w *Writer, e Event) error { return m.applyBatch(w, []Event{e}) }

// momentCols are the unnest columns of one statement.
type momentCols struct {
	corp, cust, staff, source []string
	out                       []bool
	at                        []time.Time
}

func (c *momentCols) add(corp, cust, staff, source string, out bool, at time.Time) {
	c.corp, c.cust, c.staff, c.source = append(c.corp, corp), append(c.cust, cust), append(c.staff, staff), append(c.source, source)
	c.out, c.at = append(c.out, out), append(c.at, at)
}

type momentRound struct {
	started, ended, opted momentCols
	departed              []Event
}

// applyBatch writes a batch with one statement per event type and round
// (see rounds): relation and opt-in/out events touch only their (customer,
// staff) rows; a departure touches every row of the member and is a
// barrier.
func (sqlMoments) applyBatch(w *Writer, evs []Event) error {
	rs := newRounds()
	var rounds []momentRound
	for _, e := range evs {
		corp, at := e.CorpID, e.OccurredAt
		switch p := e.Payload.(type) {
		case *events.CustomerRelationStarted:
			i := rs.keyed(corp, p.CustomerID, p.StaffID)
			rounds = grow(rounds, i)
			rounds[i].started.add(corp, p.CustomerID, p.StaffID, "", false, at)
		case *events.CustomerRelationEnded:
			i := rs.keyed(corp, p.CustomerID, p.StaffID)
			rounds = grow(rounds, i)
			rounds[i].ended.add(corp, p.CustomerID, p.StaffID, "", false, at)
		case *events.StaffDeparted:
			i := rs.staffBarrier(corp, p.StaffID)
			rounds = grow(rounds, i)
			rounds[i].departed = append(rounds[i].departed, e)
		case *events.MomentsOptedOut:
			i := rs.keyed(corp, p.CustomerID, p.StaffID)
			rounds = grow(rounds, i)
			rounds[i].opted.add(corp, p.CustomerID, p.StaffID, p.Source, true, at)
		case *events.MomentsOptedIn:
			i := rs.keyed(corp, p.CustomerID, p.StaffID)
			rounds = grow(rounds, i)
			rounds[i].opted.add(corp, p.CustomerID, p.StaffID, p.Source, false, at)
		}
	}
	for i := range rounds {
		r := &rounds[i]
		for _, e := range r.departed {
			w.Queue(`DELETE FROM {s}.moments_audience WHERE corp_id = $1 AND staff_id = $2`,
				e.CorpID, e.Payload.(*events.StaffDeparted).StaffID)
		}
		if c := r.started; len(c.corp) > 0 {
			w.Queue(`INSERT INTO {s}.moments_audience (corp_id, staff_id, customer_id, since, opted_out)
				SELECT u.corp, u.staff, u.cust, u.at, coalesce((SELECT o.opted_out FROM {s}.moments_opt_outs AS o
					WHERE o.corp_id = u.corp AND o.customer_id = u.cust AND o.staff_id = u.staff), false)
				FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(corp, staff, cust, at)
				ON CONFLICT (corp_id, staff_id, customer_id) DO UPDATE SET since = excluded.since, opted_out = excluded.opted_out`,
				c.corp, c.staff, c.cust, c.at)
		}
		if c := r.ended; len(c.corp) > 0 {
			w.Queue(`DELETE FROM {s}.moments_audience AS a USING unnest($1::text[], $2::text[], $3::text[]) AS u(corp, staff, cust)
				WHERE a.corp_id = u.corp AND a.staff_id = u.staff AND a.customer_id = u.cust`,
				c.corp, c.staff, c.cust)
		}
		if c := r.opted; len(c.corp) > 0 {
			w.Queue(`WITH u AS (
					SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[], $6::text[]) AS u(corp, cust, staff, out, at, source)
				), aud AS (
					UPDATE {s}.moments_audience AS a SET opted_out = u.out FROM u
					WHERE a.corp_id = u.corp AND a.staff_id = u.staff AND a.customer_id = u.cust
				)
				INSERT INTO {s}.moments_opt_outs (corp_id, customer_id, staff_id, opted_out, changed_at, source)
				SELECT u.corp, u.cust, u.staff, u.out, u.at, u.source FROM u
				ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET opted_out = excluded.opted_out,
					changed_at = excluded.changed_at, source = excluded.source`,
				c.corp, c.cust, c.staff, c.out, c.at, c.source)
		}
	}
	return nil
}
