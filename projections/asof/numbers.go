package asof

import (
	"context"
	"fmt"
	"time"
)

// Numbers are a corp's headline figures at one time.
type Numbers struct {
	CorpID string    `json:"corp_id"`
	At     time.Time `json:"at"`

	// Customers had at least one relation at At; Relations counts the
	// (customer, staff) relations open at At; StaffWithCustomers the staff
	// members with at least one of them.
	Customers          int64 `json:"customers"`
	Relations          int64 `json:"relations"`
	StaffWithCustomers int64 `json:"staff_with_customers"`
	// UnassignedRelations are open relations of staff who had departed by
	// At (离职待分配), waiting for a resigned handover.
	UnassignedRelations int64 `json:"unassigned_relations"`

	// ActiveStaff had joined and not departed by At; DepartedStaff had
	// departed by At.
	ActiveStaff   int64 `json:"active_staff"`
	DepartedStaff int64 `json:"departed_staff"`

	// PendingHandovers were requested by At and not settled by then.
	PendingHandovers int64 `json:"pending_handovers"`
	// HandoversSettled counts handovers settled by At, by outcome:
	// completed, refused, failed, cancelled.
	HandoversSettled map[string]int64 `json:"handovers_settled"`

	// Added counts relation intervals started by an add (not a handover)
	// up to At; DeletedByCustomer (churn, 流失), DeletedByStaff and
	// HandedOver count intervals that ended up to At for those reasons.
	Added             int64 `json:"added"`
	DeletedByCustomer int64 `json:"deleted_by_customer"`
	DeletedByStaff    int64 `json:"deleted_by_staff"`
	HandedOver        int64 `json:"handed_over"`
}

const numbersRelations = `
	WITH open AS (` + openAt + `)
	SELECT count(DISTINCT o.customer_id), count(*), count(DISTINCT o.staff_id),
		count(*) FILTER (WHERE s.departed_at <= $2)
	FROM open o
	LEFT JOIN {staff} s ON s.corp_id = o.corp_id AND s.staff_id = o.staff_id
	WHERE o.open`

const numbersIntervals = `
	SELECT
		count(*) FILTER (WHERE started_by = 'added' AND started_at <= $2),
		count(*) FILTER (WHERE end_reason = 'deleted_by_customer' AND ended_at <= $2),
		count(*) FILTER (WHERE end_reason = 'deleted_by_staff' AND ended_at <= $2),
		count(*) FILTER (WHERE end_reason = 'handed_over' AND ended_at <= $2)
	FROM {intervals} WHERE corp_id = $1 AND started_at <= $2`

const numbersStaff = `
	SELECT
		count(*) FILTER (WHERE joined_at <= $2 AND (departed_at IS NULL OR departed_at > $2)),
		count(*) FILTER (WHERE departed_at <= $2)
	FROM {staff} WHERE corp_id = $1`

const numbersHandovers = `
	SELECT CASE WHEN settled_at IS NULL OR settled_at > $2 THEN 'pending' ELSE status END, count(*)
	FROM {handovers} WHERE corp_id = $1 AND requested_at <= $2
	GROUP BY 1`

// Numbers returns the corp's headline figures at at. A corp with no
// history has all zeros.
func (q Queries) Numbers(ctx context.Context, corp string, at time.Time) (Numbers, error) {
	if err := check(at, corp); err != nil {
		return Numbers{}, err
	}
	n := Numbers{CorpID: corp, At: at.UTC(), HandoversSettled: map[string]int64{}}
	wrap := func(what string, err error) error { return fmt.Errorf("asof: numbers of %s: %s: %w", corp, what, err) }

	if err := q.DB.QueryRow(ctx, q.sql(fmt.Sprintf(numbersRelations, "")), corp, at).
		Scan(&n.Customers, &n.Relations, &n.StaffWithCustomers, &n.UnassignedRelations); err != nil {
		return n, wrap("relations", err)
	}
	if err := q.DB.QueryRow(ctx, q.sql(numbersIntervals), corp, at).
		Scan(&n.Added, &n.DeletedByCustomer, &n.DeletedByStaff, &n.HandedOver); err != nil {
		return n, wrap("intervals", err)
	}
	if err := q.DB.QueryRow(ctx, q.sql(numbersStaff), corp, at).Scan(&n.ActiveStaff, &n.DepartedStaff); err != nil {
		return n, wrap("staff", err)
	}
	rows, err := q.DB.Query(ctx, q.sql(numbersHandovers), corp, at)
	if err != nil {
		return n, wrap("handovers", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var c int64
		if err := rows.Scan(&status, &c); err != nil {
			return n, wrap("handovers", err)
		}
		if status == "pending" {
			n.PendingHandovers = c
		} else {
			n.HandoversSettled[status] = c
		}
	}
	if err := rows.Err(); err != nil {
		return n, wrap("handovers", err)
	}
	return n, nil
}
