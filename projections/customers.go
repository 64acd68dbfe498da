package projections

import (
	"time"

	"github.com/custody/custody/events"
)

// Customers is the "customers" projection: table customers, one row per
// customer with the staff members that currently follow them (relations not
// ended), when they were first added, and whether they were erased.
type Customers struct{}

// Name implements Projection.
func (Customers) Name() string { return "customers" }

// Tables implements Projection.
func (Customers) Tables() []string { return []string{"customers"} }

// Migrations implements Projection.
func (Customers) Migrations() []string { return migrations("customers") }

// Apply implements Projection.
func (c Customers) Apply(w *Writer, e Event) error { return c.applyBatch(w, []Event{e}) }

// custCols are the unnest columns of one statement: corp, customer,
// text (name or staff), staff, time.
type custCols struct {
	corp, cust, text, staff []string
	at                      []time.Time
}

func (c *custCols) add(corp, cust, text, staff string, at time.Time) {
	c.corp, c.cust, c.text, c.staff, c.at = append(c.corp, corp), append(c.cust, cust), append(c.text, text), append(c.staff, staff), append(c.at, at)
}

type customerRound struct{ started, edited, ended, erased custCols }

// applyBatch writes a batch with one statement per event type and round
// (see rounds): every event touches only its customer's row, and a row's
// events apply in log order with the same expressions as one by one.
func (Customers) applyBatch(w *Writer, evs []Event) error {
	rs := newRounds()
	var rounds []customerRound
	for _, e := range evs {
		corp, at := e.CorpID, e.OccurredAt
		var cols func(*customerRound) *custCols
		var cust, text, staff string
		switch p := e.Payload.(type) {
		case *events.CustomerRelationStarted:
			cols, cust, text, staff = func(r *customerRound) *custCols { return &r.started }, p.CustomerID, p.PII.CustomerName, p.StaffID
		case *events.CustomerRelationEdited:
			if p.PII.CustomerName == "" {
				continue
			}
			cols, cust, text = func(r *customerRound) *custCols { return &r.edited }, p.CustomerID, p.PII.CustomerName
		case *events.CustomerRelationEnded:
			cols, cust, staff = func(r *customerRound) *custCols { return &r.ended }, p.CustomerID, p.StaffID
		case *events.CustomerErased:
			cols, cust = func(r *customerRound) *custCols { return &r.erased }, p.CustomerID
		default:
			continue
		}
		i := rs.keyed(corp, cust, "")
		rounds = grow(rounds, i)
		cols(&rounds[i]).add(corp, cust, text, staff, at)
	}
	for i := range rounds {
		r := &rounds[i]
		if c := r.started; len(c.corp) > 0 {
			w.Queue(`INSERT INTO {s}.customers AS c (corp_id, customer_id, name, followers, follower_count, first_added_at, last_added_at, updated_at)
				SELECT u.corp, u.cust, u.name, ARRAY[u.staff], 1, u.at, u.at, u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(corp, cust, name, staff, at)
				ON CONFLICT (corp_id, customer_id) DO UPDATE SET
					name = CASE WHEN c.erased THEN '' WHEN excluded.name <> '' THEN excluded.name ELSE c.name END,
					followers = array_append(array_remove(c.followers, excluded.followers[1]), excluded.followers[1]),
					follower_count = cardinality(array_append(array_remove(c.followers, excluded.followers[1]), excluded.followers[1])),
					first_added_at = coalesce(c.first_added_at, excluded.first_added_at),
					last_added_at = excluded.last_added_at,
					updated_at = excluded.updated_at`,
				c.corp, c.cust, c.text, c.staff, c.at)
		}
		if c := r.edited; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.customers AS c SET name = CASE WHEN c.erased THEN '' ELSE u.name END, updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(corp, cust, name, at)
				WHERE c.corp_id = u.corp AND c.customer_id = u.cust`, c.corp, c.cust, c.text, c.at)
		}
		if c := r.ended; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.customers AS c SET followers = array_remove(c.followers, u.staff),
					follower_count = cardinality(array_remove(c.followers, u.staff)), updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(corp, cust, staff, at)
				WHERE c.corp_id = u.corp AND c.customer_id = u.cust`, c.corp, c.cust, c.staff, c.at)
		}
		if c := r.erased; len(c.corp) > 0 {
			w.Queue(`INSERT INTO {s}.customers AS c (corp_id, customer_id, erased, erased_at, updated_at)
				SELECT u.corp, u.cust, true, u.at, u.at FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(corp, cust, at)
				ON CONFLICT (corp_id, customer_id) DO UPDATE SET name = '', erased = true,
					erased_at = coalesce(c.erased_at, excluded.erased_at), updated_at = excluded.updated_at`,
				c.corp, c.cust, c.at)
		}
	}
	return nil
}
