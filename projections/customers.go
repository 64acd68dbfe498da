package projections

import "github.com/custody/custody/events"

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
func (Customers) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		w.Queue(`INSERT INTO {s}.customers AS c (corp_id, customer_id, name, followers, follower_count, first_added_at, last_added_at, updated_at)
			VALUES ($1, $2, $3, ARRAY[$4::text], 1, $5, $5, $5)
			ON CONFLICT (corp_id, customer_id) DO UPDATE SET
				name = CASE WHEN c.erased THEN '' WHEN excluded.name <> '' THEN excluded.name ELSE c.name END,
				followers = array_append(array_remove(c.followers, $4::text), $4::text),
				follower_count = cardinality(array_append(array_remove(c.followers, $4::text), $4::text)),
				first_added_at = coalesce(c.first_added_at, excluded.first_added_at),
				last_added_at = excluded.last_added_at,
				updated_at = excluded.updated_at`,
			corp, p.CustomerID, p.PII.CustomerName, p.StaffID, at)
	case *events.CustomerRelationEdited:
		if p.PII.CustomerName != "" {
			w.Queue(`UPDATE {s}.customers SET name = CASE WHEN erased THEN '' ELSE $3 END, updated_at = $4
				WHERE corp_id = $1 AND customer_id = $2`, corp, p.CustomerID, p.PII.CustomerName, at)
		}
	case *events.CustomerRelationEnded:
		w.Queue(`UPDATE {s}.customers SET followers = array_remove(followers, $3::text),
				follower_count = cardinality(array_remove(followers, $3::text)), updated_at = $4
			WHERE corp_id = $1 AND customer_id = $2`, corp, p.CustomerID, p.StaffID, at)
	case *events.CustomerErased:
		w.Queue(`INSERT INTO {s}.customers AS c (corp_id, customer_id, erased, erased_at, updated_at)
			VALUES ($1, $2, true, $3, $3)
			ON CONFLICT (corp_id, customer_id) DO UPDATE SET name = '', erased = true,
				erased_at = coalesce(c.erased_at, excluded.erased_at), updated_at = excluded.updated_at`,
			corp, p.CustomerID, at)
	}
	return nil
}
