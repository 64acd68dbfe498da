package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged staff events.
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

// bulkPlan implements bulkBuilder: a rebuild stages joins, departures,
// capacity changes, slot reservations and releases, relation starts and
// ends and erasures, and folds each member's events, in log order, into the member's
// row, exactly as applyBatch's upserts leave it.
func (Staff) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: []string{"kind smallint", "corp text", "staff text", "cpos bigint", "ppos bigint", "at timestamptz", "name text", "capacity bigint"},
		stage:   stageStaff,
		query:   `SELECT corp, staff, kind, at, name, capacity FROM {s}.bulk_staging ORDER BY corp, staff, cpos, ppos`,
		outputs: map[string][]string{
			"staff": {"corp_id", "staff_id", "name", "status", "capacity", "joined_at", "departed_at",
				"active_customers", "unassigned_customers", "slots_used", "updated_at", "erased", "erased_at"},
		},
		newFold: func() folder { return &staffFold{} },
	}
}

func stageStaff(e Event) []any {
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

// staffFold holds one (corp, staff) member at a time. Every staged event
// upserts the member's row, so the row starts from the columns' defaults
// (status 'unknown', empty name, zero capacity and counters) and each event
// applies its ON CONFLICT update.
type staffFold struct {
	key                       [2]string
	started, erased           bool
	name, status              string
	capacity                  int64
	joinedAt, departedAt      *time.Time
	erasedAt                  *time.Time
	active, unassigned, slots int64
	updatedAt                 time.Time
}

func (f *staffFold) add(rows pgx.Rows, out *bulkOut) error {
	var (
		corp, staff string
		kind        int16
		at          time.Time
		name        *string
		capacity    *int64
	)
	if err := rows.Scan(&corp, &staff, &kind, &at, &name, &capacity); err != nil {
		return err
	}
	if k := [2]string{corp, staff}; !f.started || k != f.key {
		f.finish(out)
		*f = staffFold{key: k, started: true, status: "unknown"}
	}
	// count adds a relation change: to the active customers, or to the
	// unassigned ones while the member is departed.
	count := func(n int64) {
		if f.status == "departed" {
			f.unassigned += n
		} else {
			f.active += n
		}
	}
	switch kind {
	case stfJoined:
		// Counters are kept; an erased member's name stays blank.
		f.name, f.status, f.capacity, f.joinedAt, f.departedAt = str(name), "active", deref(capacity), &at, nil
		if f.erased {
			f.name = ""
		}
	case stfDeparted:
		f.status, f.departedAt = "departed", &at
		f.unassigned, f.active = f.unassigned+f.active, 0
	case stfCapacity:
		f.capacity = deref(capacity)
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
		return fmt.Errorf("unknown staged kind %d", kind)
	}
	f.updatedAt = at
	return nil
}

func (f *staffFold) finish(out *bulkOut) {
	if !f.started {
		return
	}
	out.emit("staff", f.key[0], f.key[1], f.name, f.status, f.capacity, f.joinedAt, f.departedAt,
		f.active, f.unassigned, f.slots, f.updatedAt, f.erased, f.erasedAt)
}
