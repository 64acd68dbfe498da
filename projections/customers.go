package projections

import (
	"fmt"
	"slices"
	"time"

	"github.com/custody/custody/events"
)

// Customers is the "customers" projection: table customers, one row per
// customer with the staff members that currently follow them (relations not
// ended), when they were first added, and whether they were erased.
//
// It is a fold projection (see foldProjection): one fold per customer
// over relation starts, renames, ends and erasures.
type Customers struct{}

// Name implements Projection.
func (Customers) Name() string { return "customers" }

// Tables implements Projection.
func (Customers) Tables() []string { return []string{"customers"} }

// Migrations implements Projection.
func (Customers) Migrations() []string { return migrations("customers") }

// Apply implements Projection: it hands e's fact to w's fold.
func (c Customers) Apply(w *Writer, e Event) error { return w.addFacts(c, []Event{e}) }

func (Customers) definition() *definition { return customersDefinition }

// Kinds of customer facts.
const (
	custStarted int16 = iota + 1
	custEdited
	custEnded
	custErased
)

// Columns of a customer fact.
const (
	cfKind = iota
	cfCorp
	cfCust
	cfCpos
	cfPpos
	cfAt
	cfName
	cfStaff
)

var customersDefinition = prepared(&definition{
	staging: []string{"kind smallint", "corp text", "cust text", "cpos bigint", "ppos bigint", "at timestamptz", "name text", "staff text"},
	key:     []string{"corp", "cust"},
	fact:    customerFact,
	tables: []foldTable{{
		name: "customers",
		cols: []string{"corp_id text", "customer_id text", "name text", "followers text[]", "follower_count bigint",
			"first_added_at timestamptz", "last_added_at timestamptz", "erased boolean", "erased_at timestamptz", "updated_at timestamptz"},
		pk:  []string{"corp_id", "customer_id"},
		key: []string{"corp_id", "customer_id"},
	}},
	newFold: func() keyFold { return &customerFold{} },
})

func customerFact(e Event) []any {
	row := func(kind int16, cust string, name, staff any) []any {
		return []any{kind, e.CorpID, cust, int64(e.Position.Commit), int64(e.Position.Prepare), e.OccurredAt, name, staff}
	}
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		return row(custStarted, p.CustomerID, p.PII.CustomerName, p.StaffID)
	case *events.CustomerRelationEdited:
		if p.PII.CustomerName != "" {
			return row(custEdited, p.CustomerID, p.PII.CustomerName, nil)
		}
	case *events.CustomerRelationEnded:
		return row(custEnded, p.CustomerID, nil, p.StaffID)
	case *events.CustomerErased:
		return row(custErased, p.CustomerID, nil, nil)
	}
	return nil
}

// customerFold is one customer's row: a start adds the member to the
// followers (moved to the end when already there) and renames unless the
// customer was erased, an edit renames, an end removes the member, an
// erasure blanks the name for good. Renames and ends of a customer without
// a row change nothing.
type customerFold struct {
	key                   foldKey
	exists, erased        bool
	name                  string
	followers             []string
	firstAdded, lastAdded *time.Time
	erasedAt              *time.Time
	updatedAt             time.Time
}

func (f *customerFold) seed(k foldKey, rows map[string][][]any) {
	*f = customerFold{key: k, followers: []string{}}
	for _, r := range rows["customers"] {
		f.exists, f.name, f.followers = true, vStr(r, 2), vList(r, 3)
		f.firstAdded, f.lastAdded, f.erased, f.erasedAt, f.updatedAt = vTimePtr(r, 5), vTimePtr(r, 6), vBool(r, 7), vTimePtr(r, 8), vTime(r, 9)
	}
}

func (f *customerFold) add(r []any) error {
	at, name, staff := vTime(r, cfAt), vStr(r, cfName), vStr(r, cfStaff)
	switch vKind(r) {
	case custStarted:
		if !f.exists {
			f.exists, f.name, f.followers, f.firstAdded = true, name, []string{staff}, &at
		} else {
			switch {
			case f.erased:
				f.name = ""
			case name != "":
				f.name = name
			}
			f.followers = append(slices.DeleteFunc(slices.Clone(f.followers), func(x string) bool { return x == staff }), staff)
			if f.firstAdded == nil {
				f.firstAdded = &at
			}
		}
		f.lastAdded, f.updatedAt = &at, at
	case custEdited:
		if f.exists {
			f.name, f.updatedAt = name, at
			if f.erased {
				f.name = ""
			}
		}
	case custEnded:
		if f.exists {
			f.followers, f.updatedAt = slices.DeleteFunc(slices.Clone(f.followers), func(x string) bool { return x == staff }), at
		}
	case custErased:
		if f.erasedAt == nil {
			f.erasedAt = &at
		}
		f.exists, f.erased, f.name, f.updatedAt = true, true, "", at
	default:
		return fmt.Errorf("unknown customer fact kind %d", vKind(r))
	}
	return nil
}

func (f *customerFold) finish(out *bulkOut) {
	if !f.exists {
		return
	}
	out.emit("customers", f.key[0], f.key[1], f.name, f.followers, int64(len(f.followers)), f.firstAdded, f.lastAdded,
		f.erased, f.erasedAt, f.updatedAt)
}
