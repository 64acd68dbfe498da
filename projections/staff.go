package projections

import (
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// Staff is the "staff" projection: table staff, one row per staff member
// with status, capacity and customer counts. active_customers counts
// relations of the member while active; at departure they move to
// unassigned_customers until handed over. slots_used follows the capacity
// bookkeeping (staff.slot_reserved / staff.slot_released). staff.erased
// blanks the name and sets erased; a later join keeps it blank.
//
// It is a fold projection (see foldProjection): one fold per member over
// joins, departures, capacity changes, slot reservations and releases,
// relation starts and ends and erasures.
type Staff struct{}

// Name implements Projection.
func (Staff) Name() string { return "staff" }

// Tables implements Projection.
func (Staff) Tables() []string { return []string{"staff"} }

// Migrations implements Projection.
func (Staff) Migrations() []string { return migrations("staff") }

// Apply implements Projection: it hands e's fact to w's fold.
func (st Staff) Apply(w *Writer, e Event) error { return w.addFacts(st, []Event{e}) }

func (Staff) definition() *definition { return staffDefinition }

// Kinds of staff facts.
const (
	stfJoined int16 = iota + 1
	stfDeparted
	stfCapacity
	stfReserved
	stfReleased
	stfStarted
	stfEnded
	stfErased
)

// Columns of a staff fact.
const (
	sfAt       = 5
	sfName     = 6
	sfCapacity = 7
)

var staffDefinition = prepared(&definition{
	staging: []string{"kind smallint", "corp text", "staff text", "cpos bigint", "ppos bigint", "at timestamptz", "name text", "capacity bigint"},
	key:     []string{"corp", "staff"},
	fact:    staffFact,
	tables: []foldTable{{
		name: "staff",
		cols: []string{"corp_id text", "staff_id text", "name text", "status text", "capacity bigint", "joined_at timestamptz",
			"departed_at timestamptz", "active_customers bigint", "unassigned_customers bigint", "slots_used bigint",
			"updated_at timestamptz", "erased boolean", "erased_at timestamptz"},
		pk:  []string{"corp_id", "staff_id"},
		key: []string{"corp_id", "staff_id"},
	}},
	newFold: func() keyFold { return &staffFold{} },
})

func staffFact(e Event) []any {
	row := func(kind int16, staff string, name, capacity any) []any {
		return []any{kind, e.CorpID, staff, int64(e.Position.Commit), int64(e.Position.Prepare), e.OccurredAt, name, capacity}
	}
	switch p := e.Payload.(type) {
	case *events.StaffJoined:
		return row(stfJoined, p.StaffID, p.PII.Name, p.Capacity)
	case *events.StaffDeparted:
		return row(stfDeparted, p.StaffID, nil, nil)
	case *events.StaffCapacityChanged:
		return row(stfCapacity, p.StaffID, nil, p.Capacity)
	case *events.StaffSlotReserved:
		return row(stfReserved, p.StaffID, nil, nil)
	case *events.StaffSlotReleased:
		return row(stfReleased, p.StaffID, nil, nil)
	case *events.CustomerRelationStarted:
		return row(stfStarted, p.StaffID, nil, nil)
	case *events.CustomerRelationEnded:
		return row(stfEnded, p.StaffID, nil, nil)
	case *events.StaffErased:
		return row(stfErased, p.StaffID, nil, nil)
	}
	return nil
}

// staffFold is one (corp, staff) member's row. Every fact creates the row
// when missing, from the columns' defaults (status 'unknown', empty name,
// zero capacity and counters).
type staffFold struct {
	key                       foldKey
	erased                    bool
	name, status              string
	capacity                  int64
	joinedAt, departedAt      *time.Time
	erasedAt                  *time.Time
	active, unassigned, slots int64
	updatedAt                 time.Time
	exists                    bool
}

func (f *staffFold) seed(k foldKey, rows map[string][][]any) {
	*f = staffFold{key: k, status: "unknown"}
	for _, r := range rows["staff"] {
		f.exists, f.name, f.status, f.capacity, f.joinedAt, f.departedAt = true, vStr(r, 2), vStr(r, 3), vInt(r, 4), vTimePtr(r, 5), vTimePtr(r, 6)
		f.active, f.unassigned, f.slots, f.updatedAt, f.erased, f.erasedAt = vInt(r, 7), vInt(r, 8), vInt(r, 9), vTime(r, 10), vBool(r, 11), vTimePtr(r, 12)
	}
}

func (f *staffFold) add(r []any) error {
	at := vTime(r, sfAt)
	// count adds a relation change: to the active customers, or to the
	// unassigned ones while the member is departed.
	count := func(n int64) {
		if f.status == "departed" {
			f.unassigned += n
		} else {
			f.active += n
		}
	}
	switch vKind(r) {
	case stfJoined:
		// Counters are kept; an erased member's name stays blank.
		f.name, f.status, f.capacity, f.joinedAt, f.departedAt = vStr(r, sfName), "active", vInt(r, sfCapacity), &at, nil
		if f.erased {
			f.name = ""
		}
	case stfDeparted:
		f.status, f.departedAt = "departed", &at
		f.unassigned, f.active = f.unassigned+f.active, 0
	case stfCapacity:
		f.capacity = vInt(r, sfCapacity)
	case stfReserved:
		f.slots++
	case stfReleased:
		f.slots--
	case stfStarted:
		count(1)
	case stfEnded:
		count(-1)
	case stfErased:
		if f.erasedAt == nil {
			f.erasedAt = &at
		}
		f.erased, f.name = true, ""
	default:
		return fmt.Errorf("unknown staff fact kind %d", vKind(r))
	}
	f.exists, f.updatedAt = true, at
	return nil
}

func (f *staffFold) finish(out *bulkOut) {
	if !f.exists {
		return
	}
	out.emit("staff", f.key[0], f.key[1], f.name, f.status, f.capacity, f.joinedAt, f.departedAt,
		f.active, f.unassigned, f.slots, f.updatedAt, f.erased, f.erasedAt)
}
