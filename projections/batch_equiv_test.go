package projections

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/events"
)

// The legacy projections below are the event-by-event versions of
// customers, relations and moments the batched versions replaced; the test
// checks the batched versions leave exactly the same rows.
// They delegate all but Apply (not embedding, which would promote
// applyBatch).
type legacyCustomers struct{}
type legacyRelations struct{}
type legacyMoments struct{}
type legacyHandovers struct{}
type legacyConsents struct{}
type legacyGroups struct{}

func (legacyCustomers) Name() string         { return Customers{}.Name() }
func (legacyCustomers) Tables() []string     { return Customers{}.Tables() }
func (legacyCustomers) Migrations() []string { return Customers{}.Migrations() }
func (legacyRelations) Name() string         { return Relations{}.Name() }
func (legacyRelations) Tables() []string     { return Relations{}.Tables() }
func (legacyRelations) Migrations() []string { return Relations{}.Migrations() }
func (legacyMoments) Name() string           { return Moments{}.Name() }
func (legacyMoments) Tables() []string       { return Moments{}.Tables() }
func (legacyMoments) Migrations() []string   { return Moments{}.Migrations() }
func (legacyHandovers) Name() string         { return Handovers{}.Name() }
func (legacyHandovers) Tables() []string     { return Handovers{}.Tables() }
func (legacyHandovers) Migrations() []string { return Handovers{}.Migrations() }
func (legacyConsents) Name() string          { return Consents{}.Name() }
func (legacyConsents) Tables() []string      { return Consents{}.Tables() }
func (legacyGroups) Name() string            { return Groups{}.Name() }
func (legacyGroups) Tables() []string        { return Groups{}.Tables() }
func (legacyGroups) Migrations() []string    { return Groups{}.Migrations() }
func (legacyConsents) Migrations() []string  { return Consents{}.Migrations() }

func (legacyCustomers) Apply(w *Writer, e Event) error {
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

func (legacyRelations) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		// One statement per event keeps a batch's round trips and executor
		// start-ups down; the CTE parts touch different tables.
		w.Queue(`WITH iv AS (
				INSERT INTO {s}.ownership_intervals (corp_id, customer_id, staff_id, started_at, started_by, start_handover_id, start_commit, start_prepare)
				VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $15, $16)
			)
			INSERT INTO {s}.relations AS r (corp_id, customer_id, staff_id, status, started_at, started_by, start_handover_id,
				initiator, add_way, channel, customer_name, remark, description, phones, tags, updated_at)
			VALUES ($1, $2, $3, 'active', $4, $5, nullif($6, ''), $7, $8, $9, $10, $11, $12, $13, $14, $4)
			ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET
				status = 'active', started_at = excluded.started_at, ended_at = NULL, end_reason = NULL,
				started_by = excluded.started_by, start_handover_id = excluded.start_handover_id, end_handover_id = NULL,
				initiator = excluded.initiator, add_way = excluded.add_way, channel = excluded.channel,
				customer_name = excluded.customer_name, remark = excluded.remark, description = excluded.description,
				phones = excluded.phones, tags = excluded.tags, intervals = r.intervals + 1, updated_at = excluded.updated_at`,
			corp, p.CustomerID, p.StaffID, at, p.StartedBy, p.HandoverID,
			p.Initiator, p.AddWay, p.State, p.PII.CustomerName, p.PII.Remark, p.PII.Description, strs(p.PII.Phones), strs(p.Tags),
			int64(e.Position.Commit), int64(e.Position.Prepare))
	case *events.CustomerRelationEdited:
		w.Queue(`UPDATE {s}.relations SET tags = $4, remark = $5, description = $6, phones = $7,
				customer_name = CASE WHEN $8 <> '' THEN $8 ELSE customer_name END, updated_at = $9
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corp, p.CustomerID, p.StaffID, strs(p.Tags), p.PII.Remark, p.PII.Description, strs(p.PII.Phones), p.PII.CustomerName, at)
	case *events.CustomerRelationEnded:
		w.Queue(`WITH iv AS (
				UPDATE {s}.ownership_intervals SET ended_at = $4, end_reason = $5, end_handover_id = nullif($6, '')
				WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3 AND ended_at IS NULL
			), un AS (
				DELETE FROM {s}.unassigned_relations WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3
			)
			UPDATE {s}.relations SET status = 'ended', ended_at = $4, end_reason = $5, end_handover_id = nullif($6, ''), updated_at = $4
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corp, p.CustomerID, p.StaffID, at, p.Reason, p.HandoverID)
	case *events.StaffDeparted:
		w.Queue(`WITH un AS (
				UPDATE {s}.relations SET status = 'unassigned', updated_at = $3
				WHERE corp_id = $1 AND staff_id = $2 AND status = 'active'
				RETURNING corp_id, customer_id, staff_id, started_at
			)
			INSERT INTO {s}.unassigned_relations (corp_id, customer_id, staff_id, departed_at, started_at)
			SELECT corp_id, customer_id, staff_id, $3, started_at FROM un
			ON CONFLICT DO NOTHING`, corp, p.StaffID, at)
	case *events.MomentsOptedOut:
		w.Queue(`UPDATE {s}.relations SET moments_opted_out = true, moments_changed_at = $4, updated_at = $4
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`, corp, p.CustomerID, p.StaffID, at)
	case *events.MomentsOptedIn:
		w.Queue(`UPDATE {s}.relations SET moments_opted_out = false, moments_changed_at = $4, updated_at = $4
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`, corp, p.CustomerID, p.StaffID, at)
	case *events.CustomerErased:
		w.Queue(`UPDATE {s}.relations SET customer_name = '', remark = '', description = '', phones = '{}'
			WHERE corp_id = $1 AND customer_id = $2`, corp, p.CustomerID)
	}
	return nil
}

func (legacyMoments) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		w.Queue(`INSERT INTO {s}.moments_audience (corp_id, staff_id, customer_id, since, opted_out)
			VALUES ($1, $2, $3, $4, coalesce((SELECT opted_out FROM {s}.moments_opt_outs
				WHERE corp_id = $1 AND customer_id = $3 AND staff_id = $2), false))
			ON CONFLICT (corp_id, staff_id, customer_id) DO UPDATE SET since = excluded.since, opted_out = excluded.opted_out`,
			corp, p.StaffID, p.CustomerID, at)
	case *events.CustomerRelationEnded:
		w.Queue(`DELETE FROM {s}.moments_audience WHERE corp_id = $1 AND staff_id = $2 AND customer_id = $3`,
			corp, p.StaffID, p.CustomerID)
	case *events.StaffDeparted:
		w.Queue(`DELETE FROM {s}.moments_audience WHERE corp_id = $1 AND staff_id = $2`, corp, p.StaffID)
	case *events.MomentsOptedOut:
		legacyOptMoments(w, corp, p.CustomerID, p.StaffID, true, p.Source, e)
	case *events.MomentsOptedIn:
		legacyOptMoments(w, corp, p.CustomerID, p.StaffID, false, p.Source, e)
	}
	return nil
}

func legacyOptMoments(w *Writer, corp, customer, staff string, out bool, source string, e Event) {
	w.Queue(`WITH aud AS (
			UPDATE {s}.moments_audience SET opted_out = $4 WHERE corp_id = $1 AND staff_id = $3 AND customer_id = $2
		)
		INSERT INTO {s}.moments_opt_outs (corp_id, customer_id, staff_id, opted_out, changed_at, source)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET opted_out = excluded.opted_out,
			changed_at = excluded.changed_at, source = excluded.source`,
		corp, customer, staff, out, e.OccurredAt, source)
}

// strs keeps NOT NULL array columns non-null: pgx sends a nil slice as NULL.
func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const legacyHandoverSettle = `UPDATE {s}.handovers SET status = $3, settled_at = $4, failure_reason = nullif($5, '')
	WHERE corp_id = $1 AND handover_id = $2`

func (legacyHandovers) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.HandoverRequested:
		w.Queue(`INSERT INTO {s}.handovers (corp_id, handover_id, customer_id, kind, from_staff_id, to_staff_id, batch_id, message, status, requested_at, deadline)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)
			ON CONFLICT (corp_id, handover_id) DO NOTHING`,
			corp, p.HandoverID, p.CustomerID, p.Kind, p.FromStaffID, p.ToStaffID, p.BatchID, p.Text(), at, p.Deadline)
	case *events.HandoverRefused:
		w.Queue(legacyHandoverSettle, corp, p.HandoverID, HandoverRefused, at, "")
	case *events.HandoverCompleted:
		w.Queue(legacyHandoverSettle, corp, p.HandoverID, HandoverCompleted, at, "")
	case *events.HandoverFailed:
		w.Queue(legacyHandoverSettle, corp, p.HandoverID, HandoverFailed, at, p.Reason)
	case *events.HandoverCancelled:
		w.Queue(legacyHandoverSettle, corp, p.HandoverID, HandoverCancelled, at, "")
	}
	return nil
}

func (legacyConsents) Apply(w *Writer, e Event) error {
	p, ok := e.Payload.(*events.ConsentRecorded)
	if !ok {
		return nil
	}
	changed := p.ChangedAt
	if changed.IsZero() {
		changed = e.OccurredAt
	}
	w.Queue(`WITH hist AS (
			INSERT INTO {s}.consent_history (corp_id, customer_id, purpose, state, changed_at, recorded_at, commit_pos, prepare_pos)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		)
		INSERT INTO {s}.consents AS c (corp_id, customer_id, purpose, state, changed_at, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (corp_id, customer_id, purpose) DO UPDATE SET state = excluded.state,
			changed_at = excluded.changed_at, recorded_at = excluded.recorded_at
		WHERE c.changed_at <= excluded.changed_at`,
		e.CorpID, p.CustomerID, p.Purpose, p.State, changed, e.RecordedAt, int64(e.Position.Commit), int64(e.Position.Prepare))
	return nil
}

func (legacyGroups) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.GroupChatCreated:
		w.Queue(`INSERT INTO {s}.group_chats (corp_id, chat_id, owner_id, name, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (corp_id, chat_id) DO NOTHING`, corp, p.ChatID, p.OwnerID, p.Name, at)
	case *events.GroupChatMemberJoined:
		// Counting only rows actually inserted keeps the counts right if a
		// member is reported joined twice without leaving in between.
		w.Queue(`WITH ins AS (
				INSERT INTO {s}.group_members (corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT DO NOTHING
				RETURNING corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname
			), hist AS (
				INSERT INTO {s}.group_membership_history (corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname, join_commit, join_prepare)
				SELECT corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname, $9, $10 FROM ins
			)
			UPDATE {s}.group_chats SET
				staff_members = staff_members + (SELECT count(*) FROM ins WHERE member_type = 'staff'),
				customer_members = customer_members + (SELECT count(*) FROM ins WHERE member_type = 'customer'),
				updated_at = $5
			WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.MemberID, p.MemberType, at, p.JoinScene, p.InviterID, p.PII.Nickname,
			int64(e.Position.Commit), int64(e.Position.Prepare))
	case *events.GroupChatMemberLeft:
		w.Queue(`WITH del AS (
				DELETE FROM {s}.group_members WHERE corp_id = $1 AND chat_id = $2 AND member_type = $4 AND member_id = $3
				RETURNING member_type
			), hist AS (
				UPDATE {s}.group_membership_history SET left_at = $5, quit_scene = $6
				WHERE corp_id = $1 AND chat_id = $2 AND member_type = $4 AND member_id = $3 AND left_at IS NULL
			)
			UPDATE {s}.group_chats SET
				staff_members = staff_members - (SELECT count(*) FROM del WHERE member_type = 'staff'),
				customer_members = customer_members - (SELECT count(*) FROM del WHERE member_type = 'customer'),
				updated_at = $5
			WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.MemberID, p.MemberType, at, p.QuitScene)
	case *events.GroupChatOwnerChanged:
		w.Queue(`UPDATE {s}.group_chats SET owner_id = $3, owner_changes = owner_changes + 1, updated_at = $4
			WHERE corp_id = $1 AND chat_id = $2`, corp, p.ChatID, p.ToStaffID, at)
	case *events.GroupChatRenamed:
		w.Queue(`UPDATE {s}.group_chats SET name = $3, updated_at = $4 WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.Name, at)
	case *events.GroupChatNoticeChanged:
		w.Queue(`UPDATE {s}.group_chats SET notice = $3, updated_at = $4 WHERE corp_id = $1 AND chat_id = $2`,
			corp, p.ChatID, p.Notice, at)
	case *events.GroupChatDismissed:
		w.Queue(`UPDATE {s}.group_chats SET status = 'dismissed', dismissed_at = $3, updated_at = $3
			WHERE corp_id = $1 AND chat_id = $2`, corp, p.ChatID, at)
	case *events.CustomerErased:
		w.Queue(`UPDATE {s}.group_members SET nickname = ''
			WHERE corp_id = $1 AND member_type = 'customer' AND member_id = $2`, corp, p.CustomerID)
		w.Queue(`UPDATE {s}.group_membership_history SET nickname = ''
			WHERE corp_id = $1 AND member_type = 'customer' AND member_id = $2`, corp, p.CustomerID)
	case *events.StaffErased:
		w.Queue(`UPDATE {s}.group_members SET nickname = ''
			WHERE corp_id = $1 AND member_type = 'staff' AND member_id = $2`, corp, p.StaffID)
		w.Queue(`UPDATE {s}.group_membership_history SET nickname = ''
			WHERE corp_id = $1 AND member_type = 'staff' AND member_id = $2`, corp, p.StaffID)
	}
	return nil
}

// TestBatchedEqualsEventByEvent applies a randomized history with many
// events per key and batch (few customers and staff) to the batched
// projections and to their event-by-event predecessors, in batches of
// several sizes, and compares every table row for row.
func TestBatchedEqualsEventByEvent(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	n, err := generate(ctx, log, genOptions{Corp: "c1", Events: 20000, Writers: 8, Staff: 12, Customers: 40, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := log.ReadAll(ctx, events.Start, int(n)+1000)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decode(recs)
	if err != nil {
		t.Fatal(err)
	}
	build := func(schema string, p Projection, batch int) {
		t.Helper()
		freshSchema(t, pool, schema, p)
		applyEvents(t, pool, schema, p, evs, batch)
	}
	for _, c := range []struct{ batched, legacy Projection }{
		{Customers{}, legacyCustomers{}},
		{Relations{}, legacyRelations{}},
		{Moments{}, legacyMoments{}},
		{Handovers{}, legacyHandovers{}},
		{Consents{}, legacyConsents{}},
		{Groups{}, legacyGroups{}},
	} {
		if _, ok := c.legacy.(batchApplier); ok {
			t.Fatalf("%s: legacy projection must apply event by event", c.legacy.Name())
		}
		legacy := "eq_legacy_" + c.legacy.Name()
		build(legacy, c.legacy, 5000)
		for _, batch := range []int{1, 97, 5000} {
			schema := fmt.Sprintf("eq_%s_%d", c.batched.Name(), batch)
			build(schema, c.batched, batch)
			for _, tbl := range c.batched.Tables() {
				want, got := tableDump(t, pool, legacy, tbl), tableDump(t, pool, schema, tbl)
				if len(want) == 0 {
					t.Errorf("%s: no rows", tbl)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s.%s, batches of %d: %d rows, event by event %d; first difference: %s",
						c.batched.Name(), tbl, batch, len(got), len(want), firstDiff(got, want))
				}
			}
		}
	}
}

// TestArrayLiteral checks lists travel through arrayLiteral unchanged.
func TestArrayLiteral(t *testing.T) {
	pool := newDB(t)
	for _, in := range [][]string{
		nil, {}, {""}, {"a"}, {"NULL", "null"}, {`"quoted"`, `back\\slash`, `\`, `"`},
		{"a,b", "{c}", " spaced ", "tab\tnew\nline", "电话 138-0000-0000", "'single'"},
	} {
		var got []string
		if err := pool.QueryRow(context.Background(), `SELECT $1::text::text[]`, arrayLiteral(in)).Scan(&got); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !slices.Equal(got, in) || got == nil {
			t.Errorf("%q came back as %q", in, got)
		}
	}
}
