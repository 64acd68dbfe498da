package projections

import (
	"time"

	"github.com/custody/custody/events"
)

// sqlHandovers is the batched SQL implementation of the handovers
// projection that its fold replaced, kept as the test oracle of the fold
// (see oracles).
type sqlHandovers struct{}

func (sqlHandovers) Name() string                     { return Handovers{}.Name() }
func (sqlHandovers) Tables() []string                 { return Handovers{}.Tables() }
func (sqlHandovers) Migrations() []string             { return Handovers{}.Migrations() }
func (h sqlHandovers) Apply(w *Writer, e Event) error { return h.applyBatch(w, []Event{e}) }

type handoverRound struct {
	// requests: corp, handover, customer, kind, from, to, batch, message.
	req                    [8][]string
	reqAt, reqDeadline     []time.Time
	setCorp, setID, status []string
	reason                 []string
	setAt                  []time.Time
}

// applyBatch writes a batch with one statement per event type and round
// (see rounds): every event touches only its handover's row.
//
// customer.erased blanks the message of the customer's handovers: it is the
// customer's personal data (sealed from handover.requested v2 on, so a
// clean rebuild reads it empty; plain in v1). The events before an erasure
// are written first, so the blanking sees their rows.
func (h sqlHandovers) applyBatch(w *Writer, evs []Event) error {
	start := 0
	for i, e := range evs {
		p, ok := e.Payload.(*events.CustomerErased)
		if !ok {
			continue
		}
		if err := h.applyRounds(w, evs[start:i]); err != nil {
			return err
		}
		w.Queue(`UPDATE {s}.handovers SET message = '' WHERE corp_id = $1 AND customer_id = $2 AND message <> ''`, e.CorpID, p.CustomerID)
		start = i + 1
	}
	return h.applyRounds(w, evs[start:])
}

// applyRounds writes events without an erasure among them.
func (sqlHandovers) applyRounds(w *Writer, evs []Event) error {
	rs := newRounds()
	var rounds []handoverRound
	settle := func(e Event, id, status, reason string) {
		i := rs.keyed(e.CorpID, id, "")
		rounds = grow(rounds, i)
		r := &rounds[i]
		r.setCorp, r.setID, r.status = append(r.setCorp, e.CorpID), append(r.setID, id), append(r.status, status)
		r.reason, r.setAt = append(r.reason, reason), append(r.setAt, e.OccurredAt)
	}
	for _, e := range evs {
		switch p := e.Payload.(type) {
		case *events.HandoverRequested:
			i := rs.keyed(e.CorpID, p.HandoverID, "")
			rounds = grow(rounds, i)
			r := &rounds[i]
			for j, v := range [8]string{e.CorpID, p.HandoverID, p.CustomerID, p.Kind, p.FromStaffID, p.ToStaffID, p.BatchID, p.Text()} {
				r.req[j] = append(r.req[j], v)
			}
			r.reqAt, r.reqDeadline = append(r.reqAt, e.OccurredAt), append(r.reqDeadline, p.Deadline)
		case *events.HandoverRefused:
			settle(e, p.HandoverID, HandoverRefused, "")
		case *events.HandoverCompleted:
			settle(e, p.HandoverID, HandoverCompleted, "")
		case *events.HandoverFailed:
			settle(e, p.HandoverID, HandoverFailed, p.Reason)
		case *events.HandoverCancelled:
			settle(e, p.HandoverID, HandoverCancelled, "")
		}
	}
	for i := range rounds {
		r := &rounds[i]
		if len(r.reqAt) > 0 {
			w.Queue(`INSERT INTO {s}.handovers (corp_id, handover_id, customer_id, kind, from_staff_id, to_staff_id, batch_id, message, status, requested_at, deadline)
				SELECT u.corp, u.id, u.cust, u.kind, u.from_staff, u.to_staff, u.batch, u.message, 'pending', u.at, u.deadline
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[])
					AS u(corp, id, cust, kind, from_staff, to_staff, batch, message, at, deadline)
				ON CONFLICT (corp_id, handover_id) DO NOTHING`,
				r.req[0], r.req[1], r.req[2], r.req[3], r.req[4], r.req[5], r.req[6], r.req[7], r.reqAt, r.reqDeadline)
		}
		if len(r.setAt) > 0 {
			w.Queue(`UPDATE {s}.handovers AS h SET status = u.status, settled_at = u.at, failure_reason = nullif(u.reason, '')
				FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) AS u(corp, id, status, at, reason)
				WHERE h.corp_id = u.corp AND h.handover_id = u.id`,
				r.setCorp, r.setID, r.status, r.setAt, r.reason)
		}
	}
	return nil
}
