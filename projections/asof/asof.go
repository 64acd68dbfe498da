// Package asof answers "as of time T" questions from the projections'
// tables: who owned a customer at T, which customers a staff member served
// at T, and a corp's headline numbers at T.
//
// T is business time (events' occurred_at), the time the ownership-interval
// projection records: a relation interval covers T when
// started_at <= T < ended_at (ended_at NULL: still open). An event that is
// logged late but happened before T counts as soon as it is projected; ask a
// replay (adapters/tools/replay) for "what the system showed at T" instead.
//
// Answers describe the world at T only: an interval that ended after T is
// reported without its end, so nothing after T leaks into an answer.
//
// The queries read the live schema ("projections") by default, or any
// schema with the same tables, such as one built by `custody replay`.
package asof

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LiveSchema is the schema of the live projection tables.
const LiveSchema = "projections"

// Querier runs queries: *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrInvalidArgument is returned for an empty id, a zero time or a bad
// page size; nothing is queried.
var ErrInvalidArgument = errors.New("asof: invalid argument")

// Queries answers as-of questions against one schema. The zero Schema
// means LiveSchema. Queries is a value; it is safe for concurrent use when
// DB is (a pool is).
type Queries struct {
	DB     Querier
	Schema string
}

// Ownership is one staff member's relation with one customer, open at the
// time asked about.
type Ownership struct {
	CorpID     string    `json:"corp_id"`
	CustomerID string    `json:"customer_id"`
	StaffID    string    `json:"staff_id"`
	StartedAt  time.Time `json:"started_at"`
	// StartedBy is "added" or "handover"; StartHandoverID names the
	// handover that started it.
	StartedBy       string `json:"started_by"`
	StartHandoverID string `json:"start_handover_id,omitempty"`
	// Unassigned reports that the staff member had departed by then: the
	// relation waits for a resigned handover (离职待分配).
	Unassigned bool `json:"unassigned"`
}

// table returns schema.name, quoted.
func (q Queries) table(name string) string {
	s := q.Schema
	if s == "" {
		s = LiveSchema
	}
	return pgx.Identifier{s, name}.Sanitize()
}

// sql fills {intervals}, {staff} and {handovers} with q's tables.
func (q Queries) sql(s string) string {
	return strings.NewReplacer(
		"{intervals}", q.table("ownership_intervals"),
		"{staff}", q.table("staff"),
		"{handovers}", q.table("handovers"),
	).Replace(s)
}

func check(at time.Time, ids ...string) error {
	var errs []error
	for _, id := range ids {
		if id == "" {
			errs = append(errs, fmt.Errorf("%w: empty id", ErrInvalidArgument))
			break
		}
	}
	if at.IsZero() {
		errs = append(errs, fmt.Errorf("%w: zero time", ErrInvalidArgument))
	}
	return errors.Join(errs...)
}

// openAt selects, per (customer, staff), the interval open at $at: the
// latest that started at or before it, if it had not ended by then.
const openAt = `
	SELECT DISTINCT ON (i.customer_id, i.staff_id)
		i.corp_id, i.customer_id, i.staff_id, i.started_at, i.started_by, coalesce(i.start_handover_id, '') AS start_handover_id,
		(i.ended_at IS NULL OR i.ended_at > $2) AS open
	FROM {intervals} i
	WHERE i.corp_id = $1 AND i.started_at <= $2 %s
	ORDER BY i.customer_id, i.staff_id, i.started_at DESC, i.start_commit DESC, i.start_prepare DESC`

// ownerships wraps openAt: only open intervals, with the unassigned flag.
const ownerships = `
	SELECT o.corp_id, o.customer_id, o.staff_id, o.started_at, o.started_by, o.start_handover_id,
		coalesce(s.departed_at <= $2, false) AS unassigned
	FROM (` + openAt + `) o
	LEFT JOIN {staff} s ON s.corp_id = o.corp_id AND s.staff_id = o.staff_id
	WHERE o.open %s`

func scanOwnerships(rows pgx.Rows) ([]Ownership, error) {
	out := []Ownership{}
	for rows.Next() {
		var o Ownership
		if err := rows.Scan(&o.CorpID, &o.CustomerID, &o.StaffID, &o.StartedAt, &o.StartedBy, &o.StartHandoverID, &o.Unassigned); err != nil {
			rows.Close()
			return nil, err
		}
		o.StartedAt = o.StartedAt.UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// Owners returns the staff members who had a relation with the customer at
// at, ordered by staff id. A customer unknown at that time has none (an
// empty slice, no error).
func (q Queries) Owners(ctx context.Context, corp, customerID string, at time.Time) ([]Ownership, error) {
	if err := check(at, corp, customerID); err != nil {
		return nil, err
	}
	sql := q.sql(fmt.Sprintf(ownerships, "AND i.customer_id = $3", "ORDER BY o.staff_id"))
	rows, err := q.DB.Query(ctx, sql, corp, at, customerID)
	if err != nil {
		return nil, fmt.Errorf("asof: owners of %s: %w", customerID, err)
	}
	out, err := scanOwnerships(rows)
	if err != nil {
		return nil, fmt.Errorf("asof: owners of %s: %w", customerID, err)
	}
	return out, nil
}

// Page asks for one page of a list ordered by id: up to Limit items with
// an id greater than After. Limit 0 means 100; at most 10,000.
type Page struct {
	After string
	Limit int
}

func (p *Page) normalize() error {
	if p.Limit == 0 {
		p.Limit = 100
	}
	if p.Limit < 0 || p.Limit > 10_000 {
		return fmt.Errorf("%w: page limit %d not in 1..10000", ErrInvalidArgument, p.Limit)
	}
	return nil
}

// CustomerPage is one page of a staff member's customers.
type CustomerPage struct {
	Customers []Ownership `json:"customers"`
	// Next is the After of the next page, "" on the last page.
	Next string `json:"next,omitempty"`
}

// Customers returns the customers the staff member had a relation with at
// at, ordered by customer id, one page at a time.
func (q Queries) Customers(ctx context.Context, corp, staffID string, at time.Time, page Page) (CustomerPage, error) {
	if err := errors.Join(check(at, corp, staffID), page.normalize()); err != nil {
		return CustomerPage{}, err
	}
	sql := q.sql(fmt.Sprintf(ownerships, "AND i.staff_id = $3 AND i.customer_id > $4",
		"ORDER BY o.customer_id LIMIT $5"))
	rows, err := q.DB.Query(ctx, sql, corp, at, staffID, page.After, page.Limit+1)
	if err != nil {
		return CustomerPage{}, fmt.Errorf("asof: customers of %s: %w", staffID, err)
	}
	out, err := scanOwnerships(rows)
	if err != nil {
		return CustomerPage{}, fmt.Errorf("asof: customers of %s: %w", staffID, err)
	}
	res := CustomerPage{Customers: out}
	if len(out) > page.Limit {
		res.Customers = out[:page.Limit]
		res.Next = out[page.Limit-1].CustomerID
	}
	return res, nil
}
