package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged relation events.
const (
	relStarted int16 = iota + 1
	relEdited
	relEnded
	relOpted
	relDeparted
	relErased
)

// bulkPlan implements bulkBuilder: a rebuild stages the relation events,
// departures and erasures, and folds each (customer, staff) pair's events —
// its own, its member's departures and its customer's erasures, in log
// order — into its relations row, ownership intervals and unassigned row,
// exactly as applyBatch's statements leave them.
func (Relations) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: []string{
			"kind smallint", "corp text", "cust text", "staff text", "cpos bigint", "ppos bigint", "at timestamptz",
			"started_by text", "hid text", "initiator text", "add_way bigint", "channel text", "name text", "remark text",
			"description text", "phones text[]", "tags text[]", "reason text", "opted_out boolean",
		},
		stage: stageRelation,
		// Pairs that never started have no rows.
		query: pairFoldQuery(relStarted, relDeparted, relErased, "at", "started_by", "hid", "initiator", "add_way", "channel",
			"name", "remark", "description", "phones", "tags", "reason", "opted_out"),
		outputs: map[string][]string{
			"relations": {"corp_id", "customer_id", "staff_id", "status", "started_at", "ended_at", "end_reason", "started_by",
				"start_handover_id", "end_handover_id", "initiator", "add_way", "channel", "customer_name", "remark", "description",
				"phones", "tags", "moments_opted_out", "moments_changed_at", "intervals", "updated_at"},
			"ownership_intervals": {"corp_id", "customer_id", "staff_id", "started_at", "ended_at", "started_by", "start_handover_id",
				"end_reason", "end_handover_id", "start_commit", "start_prepare"},
			"unassigned_relations": {"corp_id", "customer_id", "staff_id", "departed_at", "started_at"},
		},
		newFold: func() folder { return &relationFold{} },
	}
}

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

// relationFold holds one (corp, customer, staff) pair at a time.
type relationFold struct {
	key        [3]string
	started    bool
	row        relationRow
	exists     bool
	intervals  []intervalRow
	unassigned *[2]time.Time // departed_at, started_at
}

type stagedRelation struct {
	corp, cust, staff                                             string
	cpos, ppos                                                    int64
	kind                                                          int16
	at                                                            time.Time
	startedBy, hid, initiator, channel, name, remark, description *string
	addWay                                                        *int64
	phones, tags                                                  []string
	reason                                                        *string
	optedOut                                                      *bool
}

func (f *relationFold) add(rows pgx.Rows, out *bulkOut) error {
	var s stagedRelation
	if err := rows.Scan(&s.corp, &s.cust, &s.staff, &s.cpos, &s.ppos, &s.kind, &s.at, &s.startedBy, &s.hid, &s.initiator,
		&s.addWay, &s.channel, &s.name, &s.remark, &s.description, &s.phones, &s.tags, &s.reason, &s.optedOut); err != nil {
		return err
	}
	if k := [3]string{s.corp, s.cust, s.staff}; !f.started || k != f.key {
		f.finish(out)
		*f = relationFold{key: k, started: true, intervals: f.intervals[:0]}
	}
	r := &f.row
	switch s.kind {
	case relStarted:
		// INSERT ... ON CONFLICT DO UPDATE: a new interval, the pair's
		// row reset to it (opt-out kept).
		intervals := int64(1)
		if f.exists {
			intervals = r.intervals + 1
		}
		*r = relationRow{
			status: "active", startedAt: s.at, startedBy: str(s.startedBy), startHID: str(s.hid), initiator: str(s.initiator),
			addWay: deref(s.addWay), channel: str(s.channel), name: str(s.name), remark: str(s.remark), description: str(s.description),
			phones: list(s.phones), tags: list(s.tags), intervals: intervals, updatedAt: s.at,
			optedOut: r.optedOut, momentsChangedAt: r.momentsChangedAt,
		}
		f.exists = true
		f.intervals = append(f.intervals, intervalRow{startedAt: s.at, startedBy: str(s.startedBy), startHID: str(s.hid),
			startCommit: s.cpos, startPrepare: s.ppos})
	case relEdited:
		if f.exists {
			r.tags, r.remark, r.description, r.phones = list(s.tags), str(s.remark), str(s.description), list(s.phones)
			if n := str(s.name); n != "" {
				r.name = n
			}
			r.updatedAt = s.at
		}
	case relEnded:
		at, reason, hid := s.at, str(s.reason), s.hid
		for i := range f.intervals {
			if iv := &f.intervals[i]; iv.endedAt == nil {
				iv.endedAt, iv.endReason, iv.endHID = &at, &reason, nonEmpty(hid)
			}
		}
		f.unassigned = nil
		if f.exists {
			r.status, r.endedAt, r.endReason, r.endHID, r.updatedAt = "ended", &at, &reason, str(hid), s.at
		}
	case relOpted:
		if f.exists {
			at := s.at
			r.optedOut, r.momentsChangedAt, r.updatedAt = s.optedOut != nil && *s.optedOut, &at, s.at
		}
	case relDeparted:
		if f.exists && r.status == "active" {
			r.status, r.updatedAt = "unassigned", s.at
			if f.unassigned == nil {
				f.unassigned = &[2]time.Time{s.at, r.startedAt}
			}
		}
	case relErased:
		if f.exists {
			r.name, r.remark, r.description, r.phones = "", "", "", []string{}
		}
	default:
		return fmt.Errorf("unknown staged kind %d", s.kind)
	}
	return nil
}

func (f *relationFold) finish(out *bulkOut) {
	if !f.started {
		return
	}
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

func deref(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// nonEmpty mirrors nullif(s, ”) for a nullable text.
func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	v := *s
	return &v
}
