package projections

import (
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// Relations is the "relations" projection:
//
//   - relations: one row per (customer, staff) pair describing its latest
//     interval — status active | unassigned | ended, channel, remark, tags,
//     moments opt-out;
//   - ownership_intervals: one row per interval, for "who owned this
//     customer on day D" (started_at <= D < coalesce(ended_at, infinity));
//   - unassigned_relations: active relations of departed staff, with the
//     departure time, until a resigned handover (or churn) ends them.
//
// An erasure blanks the customer's personal columns; rebuilding from the
// erased log yields the same blanks.
//
// It is a fold projection (see foldProjection): one fold per (customer,
// staff) pair over its relation and opt-in/out events, its member's
// departures and its customer's erasures.
type Relations struct{}

// Name implements Projection.
func (Relations) Name() string { return "relations" }

// Tables implements Projection.
func (Relations) Tables() []string {
	return []string{"relations", "ownership_intervals", "unassigned_relations"}
}

// Migrations implements Projection.
func (Relations) Migrations() []string { return migrations("relations") }

// Apply implements Projection: it hands e's fact to w's fold.
func (rl Relations) Apply(w *Writer, e Event) error { return w.addFacts(rl, []Event{e}) }

func (Relations) definition() *definition { return relationsDefinition }

// Kinds of staged relation events.
const (
	relStarted int16 = iota + 1
	relEdited
	relEnded
	relOpted
	relDeparted
	relErased
)

// Columns of a relation fact.
const (
	rfCust = iota + 2
	rfStaff
	rfCpos
	rfPpos
	rfAt
	rfStartedBy
	rfHID
	rfInitiator
	rfAddWay
	rfChannel
	rfName
	rfRemark
	rfDescription
	rfPhones
	rfTags
	rfReason
	rfOptedOut
)

var relationsDefinition = prepared(&definition{
	staging: []string{
		"kind smallint", "corp text", "cust text", "staff text", "cpos bigint", "ppos bigint", "at timestamptz",
		"started_by text", "hid text", "initiator text", "add_way bigint", "channel text", "name text", "remark text",
		"description text", "phones text[]", "tags text[]", "reason text", "opted_out boolean",
	},
	key:  []string{"corp", "cust", "staff"},
	fact: stageRelation,
	tables: []foldTable{{
		name: "relations",
		cols: []string{"corp_id text", "customer_id text", "staff_id text", "status text", "started_at timestamptz", "ended_at timestamptz",
			"end_reason text", "started_by text", "start_handover_id text", "end_handover_id text", "initiator text", "add_way bigint",
			"channel text", "customer_name text", "remark text", "description text", "phones text[]", "tags text[]",
			"moments_opted_out boolean", "moments_changed_at timestamptz", "intervals bigint", "updated_at timestamptz"},
		pk:  []string{"corp_id", "customer_id", "staff_id"},
		key: []string{"corp_id", "customer_id", "staff_id"},
	}, {
		name: "ownership_intervals",
		cols: []string{"corp_id text", "customer_id text", "staff_id text", "started_at timestamptz", "ended_at timestamptz",
			"started_by text", "start_handover_id text", "end_reason text", "end_handover_id text", "start_commit bigint", "start_prepare bigint"},
		pk:  []string{"start_commit", "start_prepare"},
		key: []string{"corp_id", "customer_id", "staff_id"},
		// Only open intervals change (an end closes them).
		where: "t.ended_at IS NULL",
	}, {
		name: "unassigned_relations",
		cols: []string{"corp_id text", "customer_id text", "staff_id text", "departed_at timestamptz", "started_at timestamptz"},
		pk:   []string{"corp_id", "customer_id", "staff_id"},
		key:  []string{"corp_id", "customer_id", "staff_id"},
	}},
	newFold: func() keyFold { return &relationFold{} },
	fanouts: []fanout{{
		// A departure makes the member's active relations unassigned.
		kind: relDeparted, from: relStarted, match: []string{"corp", "staff"},
		table: "relations", tableKey: []string{"corp_id", "customer_id", "staff_id"}, tableMatch: []string{"corp_id", "staff_id"},
		where: "f.status = 'active'",
	}, {
		// An erasure blanks the customer's personal columns in every
		// relation of the customer.
		kind: relErased, from: relStarted, match: []string{"corp", "cust"},
		table: "relations", tableKey: []string{"corp_id", "customer_id", "staff_id"}, tableMatch: []string{"corp_id", "customer_id"},
	}},
})

func stageRelation(e Event) []any {
	corp, at := e.CorpID, e.OccurredAt
	pos := func(kind int16, cust, staff any) []any {
		r := make([]any, 19)
		r[0], r[1], r[2], r[3], r[4], r[5], r[6] = kind, corp, cust, staff, int64(e.Position.Commit), int64(e.Position.Prepare), at
		return r
	}
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		r := pos(relStarted, p.CustomerID, p.StaffID)
		r[7], r[8], r[9], r[10], r[11] = p.StartedBy, p.HandoverID, p.Initiator, int64(p.AddWay), p.State
		r[12], r[13], r[14], r[15], r[16] = p.PII.CustomerName, p.PII.Remark, p.PII.Description, list(p.PII.Phones), list(p.Tags)
		return r
	case *events.CustomerRelationEdited:
		r := pos(relEdited, p.CustomerID, p.StaffID)
		r[12], r[13], r[14], r[15], r[16] = p.PII.CustomerName, p.PII.Remark, p.PII.Description, list(p.PII.Phones), list(p.Tags)
		return r
	case *events.CustomerRelationEnded:
		r := pos(relEnded, p.CustomerID, p.StaffID)
		r[8], r[17] = p.HandoverID, p.Reason
		return r
	case *events.MomentsOptedOut:
		r := pos(relOpted, p.CustomerID, p.StaffID)
		r[18] = true
		return r
	case *events.MomentsOptedIn:
		r := pos(relOpted, p.CustomerID, p.StaffID)
		r[18] = false
		return r
	case *events.StaffDeparted:
		return pos(relDeparted, nil, p.StaffID)
	case *events.CustomerErased:
		return pos(relErased, p.CustomerID, nil)
	}
	return nil
}

// list is s as a non-NULL array value.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// nullIfEmpty mirrors SQL's nullif(s, ”).
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type relationRow struct {
	status, startedBy, startHID, endHID, initiator, channel string
	name, remark, description                               string
	endReason                                               *string
	startedAt, updatedAt                                    time.Time
	endedAt, momentsChangedAt                               *time.Time
	addWay, intervals                                       int64
	phones, tags                                            []string
	optedOut                                                bool
}

type intervalRow struct {
	startedAt                 time.Time
	endedAt                   *time.Time
	startedBy, startHID       string
	endReason, endHID         *string
	startCommit, startPrepare int64
}

// relationFold is one (corp, customer, staff) pair: its relations row
// (describing its latest interval), its open ownership intervals (and the
// new ones) and its unassigned row. Pairs that never started have no rows.
type relationFold struct {
	key        foldKey
	row        relationRow
	exists     bool
	intervals  []intervalRow
	unassigned *[2]time.Time // departed_at, started_at
}

func (f *relationFold) seed(k foldKey, rows map[string][][]any) {
	*f = relationFold{key: k}
	for _, r := range rows["relations"] {
		f.exists = true
		f.row = relationRow{
			status: vStr(r, 3), startedAt: vTime(r, 4), endedAt: vTimePtr(r, 5), endReason: vStrPtr(r, 6), startedBy: vStr(r, 7),
			startHID: vStr(r, 8), endHID: vStr(r, 9), initiator: vStr(r, 10), addWay: vInt(r, 11), channel: vStr(r, 12),
			name: vStr(r, 13), remark: vStr(r, 14), description: vStr(r, 15), phones: list(vList(r, 16)), tags: list(vList(r, 17)),
			optedOut: vBool(r, 18), momentsChangedAt: vTimePtr(r, 19), intervals: vInt(r, 20), updatedAt: vTime(r, 21),
		}
	}
	for _, r := range rows["ownership_intervals"] {
		f.intervals = append(f.intervals, intervalRow{startedAt: vTime(r, 3), endedAt: vTimePtr(r, 4), startedBy: vStr(r, 5),
			startHID: vStr(r, 6), endReason: vStrPtr(r, 7), endHID: vStrPtr(r, 8), startCommit: vInt(r, 9), startPrepare: vInt(r, 10)})
	}
	for _, r := range rows["unassigned_relations"] {
		f.unassigned = &[2]time.Time{vTime(r, 3), vTime(r, 4)}
	}
}

func (f *relationFold) add(s []any) error {
	r := &f.row
	at := vTime(s, rfAt)
	switch vKind(s) {
	case relStarted:
		// A new interval, the pair's row reset to it (opt-out kept).
		intervals := int64(1)
		if f.exists {
			intervals = r.intervals + 1
		}
		*r = relationRow{
			status: "active", startedAt: at, startedBy: vStr(s, rfStartedBy), startHID: vStr(s, rfHID), initiator: vStr(s, rfInitiator),
			addWay: vInt(s, rfAddWay), channel: vStr(s, rfChannel), name: vStr(s, rfName), remark: vStr(s, rfRemark),
			description: vStr(s, rfDescription), phones: list(vList(s, rfPhones)), tags: list(vList(s, rfTags)),
			intervals: intervals, updatedAt: at, optedOut: r.optedOut, momentsChangedAt: r.momentsChangedAt,
		}
		f.exists = true
		f.intervals = append(f.intervals, intervalRow{startedAt: at, startedBy: vStr(s, rfStartedBy), startHID: vStr(s, rfHID),
			startCommit: vInt(s, rfCpos), startPrepare: vInt(s, rfPpos)})
	case relEdited:
		if f.exists {
			r.tags, r.remark, r.description, r.phones = list(vList(s, rfTags)), vStr(s, rfRemark), vStr(s, rfDescription), list(vList(s, rfPhones))
			if n := vStr(s, rfName); n != "" {
				r.name = n
			}
			r.updatedAt = at
		}
	case relEnded:
		reason, hid := vStr(s, rfReason), vStrPtr(s, rfHID)
		for i := range f.intervals {
			if iv := &f.intervals[i]; iv.endedAt == nil {
				iv.endedAt, iv.endReason, iv.endHID = &at, &reason, nonEmpty(hid)
			}
		}
		f.unassigned = nil
		if f.exists {
			r.status, r.endedAt, r.endReason, r.endHID, r.updatedAt = "ended", &at, &reason, str(hid), at
		}
	case relOpted:
		if f.exists {
			r.optedOut, r.momentsChangedAt, r.updatedAt = vBool(s, rfOptedOut), &at, at
		}
	case relDeparted:
		if f.exists && r.status == "active" {
			r.status, r.updatedAt = "unassigned", at
			if f.unassigned == nil {
				f.unassigned = &[2]time.Time{at, r.startedAt}
			}
		}
	case relErased:
		if f.exists {
			r.name, r.remark, r.description, r.phones = "", "", "", []string{}
		}
	default:
		return fmt.Errorf("unknown relation fact kind %d", vKind(s))
	}
	return nil
}

func (f *relationFold) finish(out *bulkOut) {
	corp, cust, staff := f.key[0], f.key[1], f.key[2]
	if r := f.row; f.exists {
		out.emit("relations", corp, cust, staff, r.status, r.startedAt, r.endedAt, r.endReason, r.startedBy,
			nullIfEmpty(r.startHID), nullIfEmpty(r.endHID), r.initiator, r.addWay, r.channel, r.name, r.remark, r.description,
			r.phones, r.tags, r.optedOut, r.momentsChangedAt, r.intervals, r.updatedAt)
	}
	for _, iv := range f.intervals {
		out.emit("ownership_intervals", corp, cust, staff, iv.startedAt, iv.endedAt, iv.startedBy, nullIfEmpty(iv.startHID),
			iv.endReason, iv.endHID, iv.startCommit, iv.startPrepare)
	}
	if u := f.unassigned; u != nil {
		out.emit("unassigned_relations", corp, cust, staff, u[0], u[1])
	}
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nonEmpty mirrors nullif(s, ”) for a nullable text.
func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	v := *s
	return &v
}
