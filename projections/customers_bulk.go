package projections

import (
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged customer events.
const (
	custStarted int16 = iota + 1
	custEdited
	custEnded
	custErased
)

// bulkPlan implements bulkBuilder: a rebuild stages relation starts,
// renames, ends and erasures and folds each customer's events, in log
// order, into the customer's row, exactly as applyBatch leaves it.
func (Customers) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: []string{"kind smallint", "corp text", "cust text", "cpos bigint", "ppos bigint", "at timestamptz", "name text", "staff text"},
		stage:   stageCustomer,
		query:   `SELECT corp, cust, kind, at, name, staff FROM {s}.bulk_staging ORDER BY corp, cust, cpos, ppos`,
		outputs: map[string][]string{
			"customers": {"corp_id", "customer_id", "name", "followers", "follower_count", "first_added_at", "last_added_at",
				"erased", "erased_at", "updated_at"},
		},
		newFold: func() folder { return &customerFold{} },
	}
}

func stageCustomer(e Event) []any {
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

// customerFold holds one customer at a time.
type customerFold struct {
	key                     [2]string
	started, exists, erased bool
	name                    string
	followers               []string
	firstAdded, lastAdded   *time.Time
	erasedAt                *time.Time
	updatedAt               time.Time
}

func (f *customerFold) add(rows pgx.Rows, out *bulkOut) error {
	var (
		corp, cust  string
		kind        int16
		at          time.Time
		name, staff *string
	)
	if err := rows.Scan(&corp, &cust, &kind, &at, &name, &staff); err != nil {
		return err
	}
	if k := [2]string{corp, cust}; !f.started || k != f.key {
		f.finish(out)
		*f = customerFold{key: k, started: true, followers: []string{}}
	}
	switch kind {
	case custStarted:
		s := str(staff)
		if !f.exists {
			f.exists, f.name, f.followers, f.firstAdded = true, str(name), []string{s}, &at
		} else {
			switch {
			case f.erased:
				f.name = ""
			case str(name) != "":
				f.name = str(name)
			}
			f.followers = append(slices.DeleteFunc(f.followers, func(x string) bool { return x == s }), s)
			if f.firstAdded == nil {
				f.firstAdded = &at
			}
		}
		f.lastAdded, f.updatedAt = &at, at
	case custEdited:
		if f.exists {
			f.name, f.updatedAt = str(name), at
			if f.erased {
				f.name = ""
			}
		}
	case custEnded:
		if f.exists {
			s := str(staff)
			f.followers, f.updatedAt = slices.DeleteFunc(f.followers, func(x string) bool { return x == s }), at
		}
	case custErased:
		if f.erasedAt == nil {
			f.erasedAt = &at
		}
		f.exists, f.erased, f.name, f.updatedAt = true, true, "", at
	default:
		return fmt.Errorf("unknown staged kind %d", kind)
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
