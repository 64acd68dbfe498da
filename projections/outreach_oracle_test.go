package projections

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

// sqlOutreach is the outreach projection as it was before its rebuild
// became a fold and its live driver set-based: the same tables, one to
// five statements per event, a customer's reach refreshed after each of
// its events, each delivery added to its windows by its own statement. It
// is the oracle of the rebuild fold and of the live driver (compared with
// both in outreach_oracle_test.go, its zero rows of outreach_counts left
// out, see outreachCountsZero) and the rebuild benchmark's baseline.
//
// With noCounters it is the projection as it was before the dashboard
// counters (main before issue 19's second round), named outreach_before:
// the same tables, without the statements that keep the reach and the
// window counters. The write benchmark's baseline.
type sqlOutreach struct{ noCounters bool }

func (o sqlOutreach) Name() string {
	if o.noCounters {
		return "outreach_before"
	}
	return Outreach{}.Name()
}

func (o sqlOutreach) Tables() []string {
	if o.noCounters {
		return nil
	}
	return Outreach{}.Tables()
}

func (o sqlOutreach) Migrations() []string {
	if o.noCounters {
		return nil
	}
	return Outreach{}.Migrations()
}

// Apply is the statements of the old Apply, verbatim.
func (o sqlOutreach) Apply(w *Writer, e Event) error {
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
		o.refreshCustomer(w, corpID, p.CustomerID)
	case *events.CustomerRelationEdited:
		w.Queue(`UPDATE {s}.outreach_audience SET tags = $4 WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corpID, p.CustomerID, p.StaffID, nonNil(p.Tags))
	case *events.CustomerRelationEnded:
		w.Queue(`UPDATE {s}.outreach_audience SET active = false WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corpID, p.CustomerID, p.StaffID)
		o.refreshCustomer(w, corpID, p.CustomerID)
	case *events.CustomerErased:
		w.Queue(`INSERT INTO {s}.outreach_customers (corp_id, customer_id, erased) VALUES ($1, $2, true)
			ON CONFLICT (corp_id, customer_id) DO UPDATE SET erased = true`, corpID, p.CustomerID)
		w.Queue(`UPDATE {s}.outreach_audience SET erased = true WHERE corp_id = $1 AND customer_id = $2`, corpID, p.CustomerID)
		o.refreshCustomer(w, corpID, p.CustomerID)
	case *events.MomentsOptedOut:
		o.optOut(w, corpID, p.CustomerID, p.StaffID, true)
	case *events.MomentsOptedIn:
		o.optOut(w, corpID, p.CustomerID, p.StaffID, false)
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
		o.refreshCustomer(w, corpID, p.CustomerID)
	case *events.StaffDeparted:
		if o.noCounters {
			w.Queue(`UPDATE {s}.outreach_audience SET staff_departed = true WHERE corp_id = $1 AND staff_id = $2`, corpID, p.StaffID)
			break
		}
		w.Queue(refreshDeparting, corpID, p.StaffID)
		w.Queue(`UPDATE {s}.outreach_audience SET staff_departed = true WHERE corp_id = $1 AND staff_id = $2 AND NOT staff_departed`,
			corpID, p.StaffID)
	case *events.CorpSettingsChanged:
		if !o.noCounters {
			queueZone(w, corpID, p.TimeZone)
		}
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
		o.delivery(w, corpID, kind, id, p.MessageID, p.Channel, p.StaffID, at, p.Counted, p.ReportedBy, nonNil(p.Violations))
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

func (o sqlOutreach) optOut(w *Writer, corpID, customerID, staffID string, out bool) {
	w.Queue(`INSERT INTO {s}.outreach_audience AS a (corp_id, customer_id, staff_id, moments_opted_out, marketing_consent, erased, last_contact_at)
		SELECT $1, $2, $3, $4, coalesce(c.marketing_consent, ''), coalesce(c.erased, false), c.last_contact_at
		FROM (VALUES (1)) AS one(x) LEFT JOIN {s}.outreach_customers AS c ON c.corp_id = $1 AND c.customer_id = $2
		ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET moments_opted_out = excluded.moments_opted_out`,
		corpID, customerID, staffID, out)
	o.refreshCustomer(w, corpID, customerID)
}

// reachRefresh recomputes outreach_reach for the customers `targets`
// selects ($1 the corp) from their audience rows and adds the differences
// to outreach_counts: the old statement, verbatim. A member named by $2
// counts as departed already (staff.departed refreshes before it marks
// the rows; NULL for none).
func reachRefresh(targets string) string {
	return `WITH n AS (
			SELECT t.customer_id, s.live > 0 AS reach,
				CASE WHEN s.erased THEN 'erased' WHEN s.withdrawn THEN 'withdrawn' ELSE 'open' END AS status,
				coalesce(s.opted, false) AS opted
			FROM (` + targets + `) AS t(customer_id)
			CROSS JOIN LATERAL (
				SELECT count(*) AS live, bool_or(a.erased) AS erased, bool_or(a.marketing_consent = 'disagree') AS withdrawn,
					bool_and(a.moments_opted_out) AS opted
				FROM {s}.outreach_audience AS a
				WHERE a.corp_id = $1 AND a.customer_id = t.customer_id AND a.active AND NOT a.staff_departed
					AND a.staff_id IS DISTINCT FROM $2::text
			) AS s
		), o AS (
			SELECT n.*, r.status AS old_status, coalesce(r.moments_opted_out, false) AS old_opted
			FROM n LEFT JOIN {s}.outreach_reach AS r ON r.corp_id = $1 AND r.customer_id = n.customer_id
			WHERE CASE WHEN n.reach THEN r.status IS DISTINCT FROM n.status OR r.moments_opted_out IS DISTINCT FROM n.opted
				ELSE r.status IS NOT NULL END
		), gone AS (
			DELETE FROM {s}.outreach_reach AS r USING o
			WHERE r.corp_id = $1 AND r.customer_id = o.customer_id AND NOT o.reach
		), kept AS (
			INSERT INTO {s}.outreach_reach (corp_id, customer_id, status, moments_opted_out)
			SELECT $1, customer_id, status, opted FROM o WHERE reach
			ON CONFLICT (corp_id, customer_id) DO UPDATE SET status = excluded.status, moments_opted_out = excluded.moments_opted_out
		), usage AS (
			UPDATE {s}.outreach_usage AS u SET customer_open = (o.reach AND o.status = 'open')
			FROM o WHERE u.corp_id = $1 AND u.recipient_kind = 'customer' AND u.recipient_id = o.customer_id
				AND u.customer_open IS DISTINCT FROM (o.reach AND o.status = 'open')
		)
		INSERT INTO {s}.outreach_counts AS k (corp_id, customers, erased, withdrawn, moments_opted_out)
		SELECT $1, sum(reach::int - (old_status IS NOT NULL)::int),
			sum((reach AND status = 'erased')::int - coalesce(old_status = 'erased', false)::int),
			sum((reach AND status = 'withdrawn')::int - coalesce(old_status = 'withdrawn', false)::int),
			sum((reach AND opted)::int - (old_status IS NOT NULL AND old_opted)::int)
		FROM o HAVING count(*) > 0
		ON CONFLICT (corp_id) DO UPDATE SET customers = k.customers + excluded.customers, erased = k.erased + excluded.erased,
			withdrawn = k.withdrawn + excluded.withdrawn, moments_opted_out = k.moments_opted_out + excluded.moments_opted_out`
}

// refreshDeparting refreshes the customers of a departing member ($2)
// before their rows are marked.
var refreshDeparting = reachRefresh(`SELECT DISTINCT customer_id FROM {s}.outreach_audience
	WHERE corp_id = $1 AND staff_id = $2 AND active AND NOT staff_departed`)

// refreshCustomer refreshes one customer ($3).
var refreshCustomer = reachRefresh(`SELECT $3::text`)

func (o sqlOutreach) refreshCustomer(w *Writer, corpID, customerID string) {
	if !o.noCounters {
		w.Queue(refreshCustomer, corpID, nil, customerID)
	}
}

// delivery records an outreach.delivered and adds it to the window
// counters, once: a delivery already stored adds nothing.
func (o sqlOutreach) delivery(w *Writer, args ...any) {
	if o.noCounters {
		w.Queue(`INSERT INTO {s}.outreach_deliveries (corp_id, recipient_kind, recipient_id, message_id, channel, staff_id,
				sent_at, counted, reported_by, violations)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`, args...)
		return
	}
	w.Queue(`WITH ins AS (
			INSERT INTO {s}.outreach_deliveries (corp_id, recipient_kind, recipient_id, message_id, channel, staff_id,
				sent_at, counted, reported_by, violations)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING
			RETURNING recipient_kind, recipient_id, sent_at, counted, cardinality(violations) > 0 AS flagged
		), p AS (
			SELECT ins.*, p.period, date_trunc(p.period, ins.sent_at AT TIME ZONE z.tz) AT TIME ZONE z.tz AS start
			FROM ins CROSS JOIN (SELECT `+zoneOf+` AS tz) AS z CROSS JOIN `+periods+`
		), u AS (
			INSERT INTO {s}.outreach_usage AS u (corp_id, recipient_kind, recipient_id, period, period_start, used, customer_open)
			SELECT $1, recipient_kind, recipient_id, period, start, 1, recipient_kind = 'customer' AND EXISTS (
				SELECT 1 FROM {s}.outreach_reach AS r WHERE r.corp_id = $1 AND r.customer_id = p.recipient_id AND r.status = 'open')
			FROM p WHERE counted
			ON CONFLICT (corp_id, recipient_kind, recipient_id, period, period_start) DO UPDATE SET used = u.used + 1
		)
		INSERT INTO {s}.outreach_corp_usage AS c (corp_id, period, period_start, shard, delivered, flagged)
		SELECT $1, period, start, abs(hashtext(recipient_id)) % 64, counted::int, flagged::int FROM p WHERE counted OR flagged
		ON CONFLICT (corp_id, period, period_start, shard) DO UPDATE SET delivered = c.delivered + excluded.delivered,
			flagged = c.flagged + excluded.flagged`, args...)
}

// TestOutreachEqualsOracle compares the outreach projection, applied live
// in batches of 1, 5 and 50 and rebuilt by its fold, with its old
// statements (sqlOutreach, event by event) over generated histories:
// relations, departures, erasures, consents, opt-outs, groups,
// deliveries (late and repeated ones) and time-zone changes. The old
// statements leave a corp's outreach_counts row at zero once it had
// reachable customers; the projection has no row then (dropZeroCounts):
// the oracle's zero rows are removed before comparing, after checking they
// are all zero.
func TestOutreachEqualsOracle(t *testing.T) {
	for _, c := range []struct {
		h       genOptions
		batches []int
	}{
		{genOptions{Corp: "c1", Events: 3000, Writers: 4, Staff: 6, Customers: 20, Seed: 3}, []int{1, 5, 50}},
		{genOptions{Corp: "c1", Events: 20000, Writers: 8, Staff: 12, Customers: 40, Seed: 7}, []int{5, 5000}},
		{genOptions{Corp: "c1", Events: 20000, Writers: 8, Staff: 60, Customers: 400, Seed: 8}, []int{50, 5000}},
	} {
		t.Run(fmt.Sprintf("events=%d,customers=%d", c.h.Events, c.h.Customers*c.h.Writers), func(t *testing.T) {
			log := memlog.New()
			if _, err := generate(context.Background(), log, c.h); err != nil {
				t.Fatal(err)
			}
			assertOutreachEqualsOracle(t, newDB(t), log, c.batches...)
		})
	}
}

// TestOutreachEqualsOracleTwoCorps: two corps whose histories use the
// same customer, member, chat and message ids, in one log. The rebuild
// reads its facts sorted with the corp last, so the two corps' keys
// interleave; every row and each corp's counts must still be its own.
func TestOutreachEqualsOracleTwoCorps(t *testing.T) {
	log := memlog.New()
	for _, corp := range []string{"c2", "c1"} {
		if _, err := generate(context.Background(), log, genOptions{Corp: corp, Events: 4000, Writers: 4, Staff: 8, Customers: 30, Seed: 11}); err != nil {
			t.Fatal(err)
		}
	}
	assertOutreachEqualsOracle(t, newDB(t), log, 5, 5000)
}

// assertOutreachEqualsOracle builds outreach from src by sqlOutreach, by
// Outreach live in each of batches and by its rebuild, and compares every
// table row for row.
func assertOutreachEqualsOracle(t *testing.T, pool *pgxpool.Pool, src Source, batches ...int) {
	t.Helper()
	ctx := context.Background()
	recs, err := src.ReadAll(ctx, events.Start, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decode(recs)
	if err != nil {
		t.Fatal(err)
	}
	const oracle = "outreach_oracle"
	freshSchema(t, pool, oracle, sqlOutreach{})
	applyEvents(t, pool, oracle, sqlOutreach{}, evs, 5000)
	var zeros, nonZero int
	if err := pool.QueryRow(ctx, `WITH d AS (DELETE FROM `+ident(oracle)+`.outreach_counts WHERE customers = 0
			RETURNING erased + withdrawn + moments_opted_out AS rest)
		SELECT count(*), count(*) FILTER (WHERE rest <> 0) FROM d`).Scan(&zeros, &nonZero); err != nil {
		t.Fatal(err)
	}
	if nonZero > 0 {
		t.Fatalf("%d oracle counter rows with no customers but other counts", nonZero)
	}
	t.Logf("%d zero rows of outreach_counts left out of the oracle", zeros)
	var res RebuildResult
	if _, err := buildShadows(ctx, pool, src, []Projection{Outreach{}}, RebuildOptions{BatchSize: 3000, Fresh: true, Logger: discardLogger()}, &res); err != nil {
		t.Fatal(err)
	}
	built := map[string]string{"rebuilt": shadowSchema(Outreach{})}
	for _, n := range batches {
		schema := fmt.Sprintf("outreach_live_%d", n)
		freshSchema(t, pool, schema, Outreach{})
		applyEvents(t, pool, schema, Outreach{}, evs, n)
		built[fmt.Sprintf("live in batches of %d", n)] = schema
	}
	for _, tbl := range (Outreach{}).Tables() {
		want := tableDump(t, pool, oracle, tbl)
		if len(want) == 0 {
			t.Errorf("%s: no rows", tbl)
		}
		for how, schema := range built {
			if got := tableDump(t, pool, schema, tbl); !slices.Equal(got, want) {
				t.Errorf("%s %s: %d rows, the old statements %d; first difference: %s", tbl, how, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

// TestOutreachCountsRowGoesWithTheLastReachableCustomer: a corp whose
// only customer became reachable and then not, within a batch or across
// batches, has no outreach_counts row, live and rebuilt; another corp
// keeps its row.
func TestOutreachCountsRowGoesWithTheLastReachableCustomer(t *testing.T) {
	w := newWorld(t)
	w.addAt(minute(1), "c1", started("cu1", "s1", "web"))
	w.addAt(minute(2), "c2", started("cu1", "s1", "web"))
	w.addAt(minute(3), "c1", &events.CustomerRelationEnded{CustomerID: "cu1", StaffID: "s1", Reason: events.EndDeletedByStaff})
	w.addAt(minute(4), "c2", started("cu2", "s2", "web"))
	w.addAt(minute(5), "c2", &events.StaffDeparted{StaffID: "s2"})
	pool := newDB(t)
	evs := allEvents(t, w)
	var res RebuildResult
	if _, err := buildShadows(context.Background(), pool, w.log, []Projection{Outreach{}}, RebuildOptions{BatchSize: 3000, Fresh: true, Logger: discardLogger()}, &res); err != nil {
		t.Fatal(err)
	}
	schemas := []string{shadowSchema(Outreach{})}
	for _, n := range []int{1, 50} {
		schema := fmt.Sprintf("outreach_live_%d", n)
		freshSchema(t, pool, schema, Outreach{})
		applyEvents(t, pool, schema, Outreach{}, evs, n)
		schemas = append(schemas, schema)
	}
	for _, schema := range schemas {
		assertRows(t, schema+": outreach_counts", rows(t, pool, `SELECT corp_id, customers FROM `+ident(schema)+`.outreach_counts ORDER BY corp_id`),
			[]string{"c2 1"})
	}
}

// TestOutreachReachOfDepartedMembersEqualsOracle: the live driver writes
// the reach of a customer only when its fold's reach before and after the
// batch differ (queueReach), the departures' customers reached through
// their stored pairs. Over 600 customers of five members, departures
// that end every reach of some customers, leave others reachable through
// a second member (their opt-out of every live member's moments
// changing), reach pairs a batch created by a moments opt-out, and come
// between erasures, consents, relation ends and new starts, the
// projection applied live in batches of 1, 7 and 5000 and rebuilt equals
// the old per-event statements.
func TestOutreachReachOfDepartedMembersEqualsOracle(t *testing.T) {
	w := newWorld(t)
	m := 0
	add := func(p events.Payload) { m++; w.add(m, p) }
	const customers = 600
	cust := func(i int) string { return fmt.Sprintf("cu%03d", i) }
	for i := range customers {
		add(started(cust(i), fmt.Sprintf("s%d", i%4), "web"))
		if i%3 == 0 {
			add(started(cust(i), "s4", "qr"))
		}
		if i%5 == 0 {
			add(&events.MomentsOptedOut{CustomerID: cust(i), StaffID: "s4", Source: "test"})
		}
		if i%7 == 0 {
			add(&events.MomentsOptedOut{CustomerID: cust(i), StaffID: fmt.Sprintf("s%d", i%4), Source: "test"})
		}
		if i%11 == 0 {
			add(&events.ConsentRecorded{CustomerID: cust(i), Purpose: events.PurposeMarketing, State: events.ConsentDisagree, ChangedAt: minute(m)})
		}
		if i%13 == 0 {
			add(&events.CustomerErased{CustomerID: cust(i)})
		}
	}
	// Deliveries before the departures: their window counters follow
	// their customers' reach (customer_open). A group and a zone too, so
	// that no table is empty.
	for i := 0; i < customers; i += 10 {
		m++
		w.addOutreach(minute(m), events.OutreachCustomerStream("c1", cust(i)), delivered("m1", cust(i)))
	}
	m++
	w.addOutreach(minute(m), events.OutreachMessageStream("c1", "m1"), &events.OutreachSent{MessageID: "m1",
		Channel: events.ChannelMassMessage, StaffID: "s1", CustomerIDs: []string{cust(0)}, ReportedBy: events.ReportedByCustody})
	add(&events.GroupChatMemberJoined{ChatID: "g1", MemberID: cust(3), MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode})
	set, err := corp.Defaults().Apply(map[string]string{"time_zone": "Europe/Paris"})
	if err != nil {
		t.Fatal(err)
	}
	m++
	w.addOutreach(minute(m), events.CorpSettingsStream("c1"), corp.ToEvent(set))
	// s1 departs: its customers without s4 lose their reach, the others
	// keep it through s4, opted out of its moments or not.
	add(&events.StaffDeparted{StaffID: "s1"})
	for i := 0; i < customers; i += 17 {
		add(&events.CustomerRelationEnded{CustomerID: cust(i), StaffID: "s4", Reason: events.EndDeletedByStaff})
		add(&events.MomentsOptedOut{CustomerID: cust(i + 1), StaffID: "s2", Source: "test"})
		add(started(cust(i+2), "s1", "late")) // a pair of a departed member
	}
	// s2 departs after opt-outs that created pairs with it, then s4.
	add(&events.MomentsOptedOut{CustomerID: "cu-new", StaffID: "s2", Source: "test"})
	add(&events.StaffDeparted{StaffID: "s2"})
	add(started("cu-new", "s0", "web"))
	add(&events.ConsentRecorded{CustomerID: cust(4), Purpose: events.PurposeMarketing, State: events.ConsentAgree, ChangedAt: minute(m + 1)})
	add(&events.StaffDeparted{StaffID: "s4"})
	for i := 0; i < customers; i += 29 {
		add(started(cust(i), "s3", "again"))
	}
	assertOutreachEqualsOracle(t, newDB(t), w.log, 1, 7, 5000)
}
