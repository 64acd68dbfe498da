package projections

import (
	"time"

	"github.com/custody/custody/events"
)

// sqlRelations is the batched SQL implementation of the relations
// projection that its fold replaced, kept as the test oracle of the fold
// (see oracles).
type sqlRelations struct{}

func (sqlRelations) Name() string                     { return Relations{}.Name() }
func (sqlRelations) Tables() []string                 { return Relations{}.Tables() }
func (sqlRelations) Migrations() []string             { return Relations{}.Migrations() }
func (r sqlRelations) Apply(w *Writer, e Event) error { return r.applyBatch(w, []Event{e}) }

// relCols are the unnest columns of one statement; which are used
// depends on the event type.
type relCols struct {
	corp, cust, staff, startedBy, hid, initiator, channel, name, remark, description, phones, tags, reason []string
	addWay, commit, prepare                                                                                []int64
	out                                                                                                    []bool
	at                                                                                                     []time.Time
}

type relationRound struct {
	started, edited, ended, opted relCols
	barriers                      []Event // departures and erasures, one statement each
}

// applyBatch writes a batch with one statement per event type and round
// (see rounds): relation and opt-in/out events touch only their (customer,
// staff) rows; a departure touches every relation of the member and an
// erasure every relation of the customer, so they are barriers written
// one by one.
func (sqlRelations) applyBatch(w *Writer, evs []Event) error {
	rs := newRounds()
	var rounds []relationRound
	at := func(i int) *relationRound {
		rounds = grow(rounds, i)
		return &rounds[i]
	}
	for _, e := range evs {
		corp, ts := e.CorpID, e.OccurredAt
		switch p := e.Payload.(type) {
		case *events.CustomerRelationStarted:
			c := &at(rs.keyed(corp, p.CustomerID, p.StaffID)).started
			c.corp, c.cust, c.staff, c.at = append(c.corp, corp), append(c.cust, p.CustomerID), append(c.staff, p.StaffID), append(c.at, ts)
			c.startedBy, c.hid, c.initiator = append(c.startedBy, p.StartedBy), append(c.hid, p.HandoverID), append(c.initiator, p.Initiator)
			c.addWay, c.channel, c.name = append(c.addWay, int64(p.AddWay)), append(c.channel, p.State), append(c.name, p.PII.CustomerName)
			c.remark, c.description = append(c.remark, p.PII.Remark), append(c.description, p.PII.Description)
			c.phones, c.tags = append(c.phones, arrayLiteral(p.PII.Phones)), append(c.tags, arrayLiteral(p.Tags))
			c.commit, c.prepare = append(c.commit, int64(e.Position.Commit)), append(c.prepare, int64(e.Position.Prepare))
		case *events.CustomerRelationEdited:
			c := &at(rs.keyed(corp, p.CustomerID, p.StaffID)).edited
			c.corp, c.cust, c.staff, c.at = append(c.corp, corp), append(c.cust, p.CustomerID), append(c.staff, p.StaffID), append(c.at, ts)
			c.tags, c.remark, c.description = append(c.tags, arrayLiteral(p.Tags)), append(c.remark, p.PII.Remark), append(c.description, p.PII.Description)
			c.phones, c.name = append(c.phones, arrayLiteral(p.PII.Phones)), append(c.name, p.PII.CustomerName)
		case *events.CustomerRelationEnded:
			c := &at(rs.keyed(corp, p.CustomerID, p.StaffID)).ended
			c.corp, c.cust, c.staff, c.at = append(c.corp, corp), append(c.cust, p.CustomerID), append(c.staff, p.StaffID), append(c.at, ts)
			c.reason, c.hid = append(c.reason, p.Reason), append(c.hid, p.HandoverID)
		case *events.MomentsOptedOut:
			c := &at(rs.keyed(corp, p.CustomerID, p.StaffID)).opted
			c.corp, c.cust, c.staff, c.at = append(c.corp, corp), append(c.cust, p.CustomerID), append(c.staff, p.StaffID), append(c.at, ts)
			c.out = append(c.out, true)
		case *events.MomentsOptedIn:
			c := &at(rs.keyed(corp, p.CustomerID, p.StaffID)).opted
			c.corp, c.cust, c.staff, c.at = append(c.corp, corp), append(c.cust, p.CustomerID), append(c.staff, p.StaffID), append(c.at, ts)
			c.out = append(c.out, false)
		case *events.StaffDeparted:
			r := at(rs.staffBarrier(corp, p.StaffID))
			r.barriers = append(r.barriers, e)
		case *events.CustomerErased:
			r := at(rs.customerBarrier(corp, p.CustomerID))
			r.barriers = append(r.barriers, e)
		}
	}
	for i := range rounds {
		r := &rounds[i]
		for _, e := range r.barriers {
			applyRelationBarrier(w, e)
		}
		if c := r.started; len(c.corp) > 0 {
			// One statement keeps a batch's round trips and executor
			// start-ups down; the CTE parts touch different tables.
			w.Queue(`WITH u AS (
					SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::bigint[],
						$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bigint[])
						AS u(corp, cust, staff, at, started_by, hid, initiator, add_way, channel, name, remark, description, phones, tags, cpos, ppos)
				), iv AS (
					INSERT INTO {s}.ownership_intervals (corp_id, customer_id, staff_id, started_at, started_by, start_handover_id, start_commit, start_prepare)
					SELECT u.corp, u.cust, u.staff, u.at, u.started_by, nullif(u.hid, ''), u.cpos, u.ppos FROM u
				)
				INSERT INTO {s}.relations AS r (corp_id, customer_id, staff_id, status, started_at, started_by, start_handover_id,
					initiator, add_way, channel, customer_name, remark, description, phones, tags, updated_at)
				SELECT u.corp, u.cust, u.staff, 'active', u.at, u.started_by, nullif(u.hid, ''), u.initiator, u.add_way, u.channel,
					u.name, u.remark, u.description, u.phones::text[], u.tags::text[], u.at FROM u
				ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET
					status = 'active', started_at = excluded.started_at, ended_at = NULL, end_reason = NULL,
					started_by = excluded.started_by, start_handover_id = excluded.start_handover_id, end_handover_id = NULL,
					initiator = excluded.initiator, add_way = excluded.add_way, channel = excluded.channel,
					customer_name = excluded.customer_name, remark = excluded.remark, description = excluded.description,
					phones = excluded.phones, tags = excluded.tags, intervals = r.intervals + 1, updated_at = excluded.updated_at`,
				c.corp, c.cust, c.staff, c.at, c.startedBy, c.hid, c.initiator, c.addWay,
				c.channel, c.name, c.remark, c.description, c.phones, c.tags, c.commit, c.prepare)
		}
		if c := r.edited; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.relations AS r SET tags = u.tags::text[], remark = u.remark, description = u.description, phones = u.phones::text[],
					customer_name = CASE WHEN u.name <> '' THEN u.name ELSE r.customer_name END, updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
					AS u(corp, cust, staff, tags, remark, description, phones, name, at)
				WHERE r.corp_id = u.corp AND r.customer_id = u.cust AND r.staff_id = u.staff`,
				c.corp, c.cust, c.staff, c.tags, c.remark, c.description, c.phones, c.name, c.at)
		}
		if c := r.ended; len(c.corp) > 0 {
			w.Queue(`WITH u AS (
					SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) AS u(corp, cust, staff, at, reason, hid)
				), iv AS (
					UPDATE {s}.ownership_intervals AS o SET ended_at = u.at, end_reason = u.reason, end_handover_id = nullif(u.hid, '')
					FROM u WHERE o.corp_id = u.corp AND o.customer_id = u.cust AND o.staff_id = u.staff AND o.ended_at IS NULL
				), un AS (
					DELETE FROM {s}.unassigned_relations AS x USING u WHERE x.corp_id = u.corp AND x.customer_id = u.cust AND x.staff_id = u.staff
				)
				UPDATE {s}.relations AS r SET status = 'ended', ended_at = u.at, end_reason = u.reason, end_handover_id = nullif(u.hid, ''), updated_at = u.at
				FROM u WHERE r.corp_id = u.corp AND r.customer_id = u.cust AND r.staff_id = u.staff`,
				c.corp, c.cust, c.staff, c.at, c.reason, c.hid)
		}
		if c := r.opted; len(c.corp) > 0 {
			w.Queue(`UPDATE {s}.relations AS r SET moments_opted_out = u.out, moments_changed_at = u.at, updated_at = u.at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[]) AS u(corp, cust, staff, out, at)
				WHERE r.corp_id = u.corp AND r.customer_id = u.cust AND r.staff_id = u.staff`,
				c.corp, c.cust, c.staff, c.out, c.at)
		}
	}
	return nil
}

// applyRelationBarrier queues a departure or an erasure, which touch every
// relation of a member or a customer.
func applyRelationBarrier(w *Writer, e Event) {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.StaffDeparted:
		w.Queue(`WITH un AS (
				UPDATE {s}.relations SET status = 'unassigned', updated_at = $3
				WHERE corp_id = $1 AND staff_id = $2 AND status = 'active'
				RETURNING corp_id, customer_id, staff_id, started_at
			)
			INSERT INTO {s}.unassigned_relations (corp_id, customer_id, staff_id, departed_at, started_at)
			SELECT corp_id, customer_id, staff_id, $3, started_at FROM un
			ON CONFLICT DO NOTHING`, corp, p.StaffID, at)
	case *events.CustomerErased:
		w.Queue(`UPDATE {s}.relations SET customer_name = '', remark = '', description = '', phones = '{}'
			WHERE corp_id = $1 AND customer_id = $2`, corp, p.CustomerID)
	}
}
