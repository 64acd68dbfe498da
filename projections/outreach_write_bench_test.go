package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/custody/custody/events"
)

// outreachBefore is the outreach projection as it was before the
// dashboard counters (main before issue 19's second round): the same
// tables, without the counter statements. The write benchmark's baseline.
type outreachBefore struct{}

func (outreachBefore) Name() string         { return "outreach_before" }
func (outreachBefore) Tables() []string     { return nil }
func (outreachBefore) Migrations() []string { return nil }

func (outreachBefore) Apply(w *Writer, e Event) error {
	corpID, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		w.Queue(`INSERT INTO {s}.outreach_audience AS a (corp_id, customer_id, staff_id, active, channel, tags, since,
				marketing_consent, erased, last_contact_at)
			SELECT $1, $2, $3, true, $4, $5, $6, coalesce(c.marketing_consent, ''), coalesce(c.erased, false), c.last_contact_at
			FROM (VALUES (1)) AS one(x) LEFT JOIN {s}.outreach_customers AS c ON c.corp_id = $1 AND c.customer_id = $2
			ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET active = true, channel = excluded.channel,
				tags = excluded.tags, since = excluded.since`,
			corpID, p.CustomerID, p.StaffID, p.State, nonNil(p.Tags), at)
	case *events.CustomerRelationEdited:
		w.Queue(`UPDATE {s}.outreach_audience SET tags = $4 WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corpID, p.CustomerID, p.StaffID, nonNil(p.Tags))
	case *events.CustomerRelationEnded:
		w.Queue(`UPDATE {s}.outreach_audience SET active = false WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corpID, p.CustomerID, p.StaffID)
	case *events.CustomerErased:
		w.Queue(`INSERT INTO {s}.outreach_customers (corp_id, customer_id, erased) VALUES ($1, $2, true)
			ON CONFLICT (corp_id, customer_id) DO UPDATE SET erased = true`, corpID, p.CustomerID)
		w.Queue(`UPDATE {s}.outreach_audience SET erased = true WHERE corp_id = $1 AND customer_id = $2`, corpID, p.CustomerID)
	case *events.MomentsOptedOut:
		optOutBefore(w, corpID, p.CustomerID, p.StaffID, true)
	case *events.MomentsOptedIn:
		optOutBefore(w, corpID, p.CustomerID, p.StaffID, false)
	case *events.ConsentRecorded:
		if p.Purpose != events.PurposeMarketing {
			break
		}
		changed := p.ChangedAt
		if changed.IsZero() {
			changed = at
		}
		w.Queue(`INSERT INTO {s}.outreach_customers AS c (corp_id, customer_id, marketing_consent, consent_changed_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (corp_id, customer_id) DO UPDATE SET marketing_consent = excluded.marketing_consent,
				consent_changed_at = excluded.consent_changed_at
			WHERE c.consent_changed_at IS NULL OR c.consent_changed_at <= excluded.consent_changed_at`,
			corpID, p.CustomerID, p.State, changed)
		w.Queue(`UPDATE {s}.outreach_audience AS a SET marketing_consent = c.marketing_consent
			FROM {s}.outreach_customers AS c
			WHERE a.corp_id = $1 AND a.customer_id = $2 AND c.corp_id = $1 AND c.customer_id = $2
				AND a.marketing_consent <> c.marketing_consent`,
			corpID, p.CustomerID)
	case *events.StaffDeparted:
		w.Queue(`UPDATE {s}.outreach_audience SET staff_departed = true WHERE corp_id = $1 AND staff_id = $2`, corpID, p.StaffID)
	case *events.GroupChatMemberJoined:
		if p.MemberType == events.MemberCustomer {
			w.Queue(`INSERT INTO {s}.outreach_group_members (corp_id, chat_id, customer_id) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, corpID, p.ChatID, p.MemberID)
		}
	case *events.GroupChatMemberLeft:
		w.Queue(`DELETE FROM {s}.outreach_group_members WHERE corp_id = $1 AND chat_id = $2 AND customer_id = $3`,
			corpID, p.ChatID, p.MemberID)
	case *events.GroupChatDismissed:
		w.Queue(`DELETE FROM {s}.outreach_group_members WHERE corp_id = $1 AND chat_id = $2`, corpID, p.ChatID)
	case *events.OutreachDelivered:
		kind, id := "customer", p.CustomerID
		if p.ChatID != "" && p.CustomerID == "" {
			kind, id = "group", p.ChatID
		}
		w.Queue(`INSERT INTO {s}.outreach_deliveries (corp_id, recipient_kind, recipient_id, message_id, channel, staff_id,
				sent_at, counted, reported_by, violations)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
			corpID, kind, id, p.MessageID, p.Channel, p.StaffID, at, p.Counted, p.ReportedBy, nonNil(p.Violations))
		if kind == "customer" {
			w.Queue(`INSERT INTO {s}.outreach_customers AS c (corp_id, customer_id, last_contact_at) VALUES ($1, $2, $3)
				ON CONFLICT (corp_id, customer_id) DO UPDATE SET last_contact_at = greatest(c.last_contact_at, excluded.last_contact_at)`,
				corpID, id, at)
			w.Queue(`UPDATE {s}.outreach_audience SET last_contact_at = $3
				WHERE corp_id = $1 AND customer_id = $2 AND (last_contact_at IS NULL OR last_contact_at < $3)`,
				corpID, id, at)
		}
	case *events.OutreachPlanned:
		w.Queue(`INSERT INTO {s}.outreach_messages AS m (corp_id, message_id, channel, staff_id, planned_at, planned)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (corp_id, message_id) DO UPDATE SET planned_at = excluded.planned_at, planned = excluded.planned`,
			corpID, p.MessageID, p.Channel, p.StaffID, at, int64(len(p.CustomerIDs)+len(p.ChatIDs)))
	case *events.OutreachSent:
		w.Queue(`INSERT INTO {s}.outreach_messages AS m (corp_id, message_id, channel, staff_id, reached, flagged, last_sent_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (corp_id, message_id) DO UPDATE SET reached = m.reached + excluded.reached,
				flagged = m.flagged + excluded.flagged, last_sent_at = greatest(m.last_sent_at, excluded.last_sent_at)`,
			corpID, p.MessageID, p.Channel, p.StaffID, int64(len(p.CustomerIDs)+len(p.ChatIDs)), int64(len(p.Flagged)), at)
	case *events.OutreachRefused:
		w.Queue(`INSERT INTO {s}.outreach_messages AS m (corp_id, message_id, channel, staff_id, refused)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (corp_id, message_id) DO UPDATE SET refused = m.refused + excluded.refused`,
			corpID, p.MessageID, p.Channel, p.StaffID, int64(len(p.Refused)))
	}
	return nil
}

func optOutBefore(w *Writer, corpID, customerID, staffID string, out bool) {
	w.Queue(`INSERT INTO {s}.outreach_audience AS a (corp_id, customer_id, staff_id, moments_opted_out, marketing_consent, erased, last_contact_at)
		SELECT $1, $2, $3, $4, coalesce(c.marketing_consent, ''), coalesce(c.erased, false), c.last_contact_at
		FROM (VALUES (1)) AS one(x) LEFT JOIN {s}.outreach_customers AS c ON c.corp_id = $1 AND c.customer_id = $2
		ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET moments_opted_out = excluded.moments_opted_out`,
		corpID, customerID, staffID, out)
}

// BenchmarkOutreachApply times the outreach projection catching up over a
// generated log (20,000 customers: relations, consents, opt-outs,
// erasures, two departures, 1.5 mass messages per customer and their
// summaries): without the dashboard counters (outreachBefore), with them
// event by event (sqlOutreach, the statements before the batch's
// deliveries and refreshes were set-based) and as it is (Outreach),
// alternately, each on a fresh database, in batches of 1000.
//
//	go test ./projections -run '^$' -bench OutreachApply -benchtime 1x -count 1 -v
func BenchmarkOutreachApply(b *testing.B) {
	w := newWorld(b)
	n := 20_000
	if v := lookupEnvInt("OUTREACH_APPLY_CUSTOMERS"); v > 0 {
		n = v
	}
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	for i := range n {
		c, s := fmt.Sprintf("wm%06d", i), fmt.Sprintf("s%03d", i%200)
		w.addAt(at(i), "c1", started(c, s, "web", "vip"))
		if i%10 == 3 {
			w.addAt(at(i), "c1", started(c, fmt.Sprintf("s%03d", (i+101)%200), "web"))
		}
		switch {
		case i%20 == 0:
			w.addAt(at(i), "c1", &events.ConsentRecorded{CustomerID: c, Purpose: events.PurposeMarketing, State: events.ConsentDisagree, ChangedAt: at(i)})
		case i%17 == 0:
			w.addAt(at(i), "c1", &events.MomentsOptedOut{CustomerID: c, StaffID: s})
		case i%100 == 1:
			w.addAt(at(i), "c1", &events.CustomerErased{CustomerID: c})
		}
	}
	for k := range 3 * n / 2 {
		c := fmt.Sprintf("wm%06d", (k*7919)%n)
		msg := fmt.Sprintf("m%d", k/1000)
		w.addOutreach(at(n+k), events.OutreachCustomerStream("c1", c), delivered(msg, c))
		if k%1000 == 999 {
			w.addOutreach(at(n+k), events.OutreachMessageStream("c1", msg), &events.OutreachSent{MessageID: msg,
				Channel: events.ChannelMassMessage, StaffID: "s1", CustomerIDs: []string{c}, ReportedBy: events.ReportedByCustody})
		}
	}
	w.add(0, &events.StaffDeparted{StaffID: "s007"})
	w.add(0, &events.StaffDeparted{StaffID: "s107"})
	all, err := w.log.ReadAll(context.Background(), events.Position{}, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	total := len(all)
	b.Logf("%d events", total)
	for round := range 2 {
		for _, p := range []Projection{outreachBefore{}, sqlOutreach{}, Outreach{}} {
			b.Run(fmt.Sprintf("%T round %d", p, round), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					pool := newDB(b)
					if err := MigrateProjections(context.Background(), pool, p); err != nil {
						b.Fatal(err)
					}
					r, err := NewRunner(pool, w.log, Options{Projections: []Projection{p}, BatchSize: 1000})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if _, err := r.CatchUp(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
