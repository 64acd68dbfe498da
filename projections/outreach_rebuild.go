package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

// The outreach projection's rebuild (bulkBuilder): its facts are staged
// with COPY while the log is read, then folded in four key spaces, one
// after the other, from one sorted read of the staged facts:
//
//  1. (corp, customer): outreach_customers, the customer's
//     outreach_audience rows, its outreach_reach row and, summed per corp,
//     outreach_counts. A departure reaches every customer with a row of
//     the member (joined in SQL, as a fold's fanout is);
//  2. (corp, chat): outreach_group_members;
//  3. (corp, message): outreach_messages;
//  4. (corp, recipient kind, recipient, message): outreach_deliveries (the
//     first report of a delivery is kept).
//
// The fold does, fact by fact, what Apply's statements do. The window
// counters (outreach_zones, outreach_usage, outreach_corp_usage) are then
// computed once from the final rows, in SQL (outreachFinish): live, every
// delivery adds to the windows of the zone the projection knows and a
// zone change cuts every window again in the new zone, so at any position
// they are the deliveries' counts in the corp's zone then. The live
// projection stays Apply: a shadow is an ordinary one after the fold.

// Kinds of outreach facts.
const (
	orStarted int16 = iota + 1
	orEdited
	orEnded
	orErased
	orMoments // flag: opted out
	orConsent
	orDeparted
	orDelivered
	orJoined
	orLeft
	orDismissed
	orPlanned
	orSent
	orRefused
	orZone
)

// outreachStaging are the columns of an outreach fact: txt is the
// relation's channel code, the consent state, the message's channel or the
// time zone; txt2 a delivery's reporter; list the tags or the violations;
// flag opted out or counted; n1, n2 the counts of a message event; ts the
// consent's changed_at.
var outreachStaging = []string{
	"kind smallint", "corp text", "cust text", "staff text", "chat text", "msg text", "cpos bigint", "ppos bigint",
	"at timestamptz", "txt text", "txt2 text", "list text[]", "flag boolean", "n1 bigint", "n2 bigint", "ts timestamptz",
}

// Columns of a staged outreach fact.
const (
	ofCust = iota + 2
	ofStaff
	ofChat
	ofMsg
	_
	_
	ofAt
	ofTxt
	ofTxt2
	ofList
	ofFlag
	ofN1
	ofN2
	ofTs
)

func outreachFact(e Event) []any {
	row := func(kind int16) []any {
		return []any{kind, e.CorpID, "", "", "", "", int64(e.Position.Commit), int64(e.Position.Prepare),
			e.OccurredAt, "", "", []string{}, false, int64(0), int64(0), e.OccurredAt}
	}
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		r := row(orStarted)
		r[ofCust], r[ofStaff], r[ofTxt], r[ofList] = p.CustomerID, p.StaffID, p.State, nonNil(p.Tags)
		return r
	case *events.CustomerRelationEdited:
		r := row(orEdited)
		r[ofCust], r[ofStaff], r[ofList] = p.CustomerID, p.StaffID, nonNil(p.Tags)
		return r
	case *events.CustomerRelationEnded:
		r := row(orEnded)
		r[ofCust], r[ofStaff] = p.CustomerID, p.StaffID
		return r
	case *events.CustomerErased:
		r := row(orErased)
		r[ofCust] = p.CustomerID
		return r
	case *events.MomentsOptedOut:
		r := row(orMoments)
		r[ofCust], r[ofStaff], r[ofFlag] = p.CustomerID, p.StaffID, true
		return r
	case *events.MomentsOptedIn:
		r := row(orMoments)
		r[ofCust], r[ofStaff] = p.CustomerID, p.StaffID
		return r
	case *events.ConsentRecorded:
		if p.Purpose != events.PurposeMarketing {
			return nil
		}
		r := row(orConsent)
		r[ofCust], r[ofTxt] = p.CustomerID, p.State
		if !p.ChangedAt.IsZero() {
			r[ofTs] = p.ChangedAt
		}
		return r
	case *events.StaffDeparted:
		r := row(orDeparted)
		r[ofStaff] = p.StaffID
		return r
	case *events.CorpSettingsChanged:
		r := row(orZone)
		r[ofTxt] = p.TimeZone
		return r
	case *events.GroupChatMemberJoined:
		if p.MemberType != events.MemberCustomer {
			return nil
		}
		r := row(orJoined)
		r[ofChat], r[ofCust] = p.ChatID, p.MemberID
		return r
	case *events.GroupChatMemberLeft:
		r := row(orLeft)
		r[ofChat], r[ofCust] = p.ChatID, p.MemberID
		return r
	case *events.GroupChatDismissed:
		r := row(orDismissed)
		r[ofChat] = p.ChatID
		return r
	case *events.OutreachDelivered:
		r := row(orDelivered)
		r[ofCust], r[ofChat], r[ofMsg], r[ofStaff] = p.CustomerID, p.ChatID, p.MessageID, p.StaffID
		r[ofTxt], r[ofTxt2], r[ofFlag], r[ofList] = p.Channel, p.ReportedBy, p.Counted, nonNil(p.Violations)
		return r
	case *events.OutreachPlanned:
		r := row(orPlanned)
		r[ofMsg], r[ofTxt], r[ofStaff], r[ofN1] = p.MessageID, p.Channel, p.StaffID, int64(len(p.CustomerIDs)+len(p.ChatIDs))
		return r
	case *events.OutreachSent:
		r := row(orSent)
		r[ofMsg], r[ofTxt], r[ofStaff] = p.MessageID, p.Channel, p.StaffID
		r[ofN1], r[ofN2] = int64(len(p.CustomerIDs)+len(p.ChatIDs)), int64(len(p.Flagged))
		return r
	case *events.OutreachRefused:
		r := row(orRefused)
		r[ofMsg], r[ofTxt], r[ofStaff], r[ofN1] = p.MessageID, p.Channel, p.StaffID, int64(len(p.Refused))
		return r
	}
	return nil
}

// outreachQuery reads the staged facts in fold order: key space, then
// key, then log order. A delivery to a customer is read twice: as the
// customer's last contact and as the delivery.
var outreachQuery = func() string {
	const facts = `cpos, ppos, kind, cust, staff, chat, msg, at, txt, txt2, list, flag, n1, n2, ts`
	group := `chat <> '' AND cust = ''` // a delivery to a group (Apply's rule)
	return fmt.Sprintf(`SELECT 1 AS scope, corp, cust AS k1, '' AS k2, '' AS k3, %[1]s FROM {s}.bulk_staging
			WHERE kind IN (%[2]d, %[3]d, %[4]d, %[5]d, %[6]d, %[7]d) OR kind = %[8]d AND NOT (%[9]s)
		UNION ALL
		SELECT 1, d.corp, k.cust, '', '', d.cpos, d.ppos, d.kind, k.cust, d.staff, d.chat, d.msg, d.at, d.txt, d.txt2, d.list,
			d.flag, d.n1, d.n2, d.ts
		FROM (SELECT DISTINCT corp, cust, staff FROM {s}.bulk_staging WHERE kind IN (%[2]d, %[6]d)) AS k
		JOIN {s}.bulk_staging AS d ON d.kind = %[10]d AND d.corp = k.corp AND d.staff = k.staff
		UNION ALL
		SELECT 2, corp, chat, '', '', %[1]s FROM {s}.bulk_staging WHERE kind IN (%[11]d, %[12]d, %[13]d)
		UNION ALL
		SELECT 3, corp, msg, '', '', %[1]s FROM {s}.bulk_staging WHERE kind IN (%[14]d, %[15]d, %[16]d)
		UNION ALL
		SELECT 4, corp, CASE WHEN %[9]s THEN 'group' ELSE 'customer' END, CASE WHEN %[9]s THEN chat ELSE cust END, msg, %[1]s
		FROM {s}.bulk_staging WHERE kind = %[8]d
		ORDER BY 1, 2, 3, 4, 5, 6, 7`,
		facts, orStarted, orEdited, orEnded, orErased, orMoments, orConsent, orDelivered, group, orDeparted,
		orJoined, orLeft, orDismissed, orPlanned, orSent, orRefused)
}()

// outreachFinish computes the window counters from the folded rows and
// the staged zone changes: the zone is the last one PostgreSQL knows,
// kept once one differed from Asia/Shanghai (queueZone's rule).
var outreachFinish = []string{
	fmt.Sprintf(`WITH v AS (
			SELECT corp, txt, cpos, ppos FROM {s}.bulk_staging
			WHERE kind = %d AND txt IN (SELECT name COLLATE "C" FROM pg_timezone_names)
		)
		INSERT INTO {s}.outreach_zones (corp_id, time_zone)
		SELECT DISTINCT ON (corp) corp, txt FROM v WHERE corp IN (SELECT corp FROM v WHERE txt <> '%s')
		ORDER BY corp, cpos DESC, ppos DESC`, orZone, corp.DefaultTimeZone),
	`INSERT INTO {s}.outreach_usage (corp_id, recipient_kind, recipient_id, period, period_start, used, customer_open)
		SELECT d.corp_id, d.recipient_kind, d.recipient_id, p.period, date_trunc(p.period, d.sent_at AT TIME ZONE z.tz) AT TIME ZONE z.tz,
			count(*), coalesce(bool_or(r.status = 'open' AND d.recipient_kind = 'customer'), false)
		FROM {s}.outreach_deliveries AS d
		CROSS JOIN LATERAL (SELECT ` + zoneOfD + ` AS tz) AS z CROSS JOIN ` + periods + `
		LEFT JOIN {s}.outreach_reach AS r ON r.corp_id = d.corp_id AND r.customer_id = d.recipient_id
		WHERE d.counted
		GROUP BY 1, 2, 3, 4, 5`,
	`INSERT INTO {s}.outreach_corp_usage (corp_id, period, period_start, shard, delivered, flagged)
		SELECT d.corp_id, p.period, date_trunc(p.period, d.sent_at AT TIME ZONE z.tz) AT TIME ZONE z.tz,
			(abs(hashtext(d.recipient_id)) % 64), count(*) FILTER (WHERE d.counted), count(*) FILTER (WHERE cardinality(d.violations) > 0)
		FROM {s}.outreach_deliveries AS d
		CROSS JOIN LATERAL (SELECT ` + zoneOfD + ` AS tz) AS z CROSS JOIN ` + periods + `
		WHERE d.counted OR cardinality(d.violations) > 0
		GROUP BY 1, 2, 3, 4`,
}

// zoneOfD is zoneOf for the corp of delivery d.
const zoneOfD = `coalesce((SELECT z.time_zone FROM {s}.outreach_zones AS z WHERE z.corp_id = d.corp_id), '` + corp.DefaultTimeZone + `')`

func (Outreach) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: outreachStaging,
		stage:   outreachFact,
		query:   outreachQuery,
		outputs: map[string][]string{
			"outreach_customers": {"corp_id", "customer_id", "marketing_consent", "consent_changed_at", "erased", "last_contact_at"},
			"outreach_audience": {"corp_id", "customer_id", "staff_id", "active", "staff_departed", "channel", "tags",
				"moments_opted_out", "since", "marketing_consent", "erased", "last_contact_at"},
			"outreach_reach":         {"corp_id", "customer_id", "status", "moments_opted_out"},
			"outreach_counts":        {"corp_id", "customers", "erased", "withdrawn", "moments_opted_out"},
			"outreach_group_members": {"corp_id", "chat_id", "customer_id"},
			"outreach_messages": {"corp_id", "message_id", "channel", "staff_id", "planned_at", "planned", "reached", "refused",
				"flagged", "last_sent_at"},
			"outreach_deliveries": {"corp_id", "recipient_kind", "recipient_id", "message_id", "channel", "staff_id", "sent_at",
				"counted", "reported_by", "violations"},
		},
		newFold: func() folder { return &outreachFold{} },
		finish:  outreachFinish,
	}
}

// outreachRead is one row of outreachQuery.
type outreachRead struct {
	scope                  int32
	corp, k1, k2, k3       string
	cpos, ppos             int64
	kind                   int16
	cust, staff, chat, msg string
	at                     time.Time
	txt, txt2              string
	list                   []string
	flag                   bool
	n1, n2                 int64
	ts                     time.Time
}

// outreachPair is an outreach_audience row (its corp and customer are the
// key's).
type outreachPair struct {
	staff                           string
	active, departed, opted, erased bool
	channel, consent                string
	tags                            []string
	since, lastContact              *time.Time
}

// outreachMessage is an outreach_messages row.
type outreachMessage struct {
	channel, staff                     string
	plannedAt, lastSent                *time.Time
	planned, reached, refused, flagged int64
}

// outreachFold folds the sorted facts of every key space (see above).
type outreachFold struct {
	started bool
	cur     outreachRead // the key's first fact

	// (corp, customer)
	custExists  bool
	consent     string
	changedAt   *time.Time
	erased      bool
	lastContact *time.Time
	pairs       []*outreachPair
	// outreach_counts of counts.corp, emitted once its customers are done
	counts outreachCounts
	// (corp, chat)
	members []string
	// (corp, message)
	message   outreachMessage
	msgExists bool
	delivered bool // (corp, recipient, message): the first report is kept
	delivery  outreachRead
}

func (f *outreachFold) add(rows pgx.Rows, out *bulkOut) error {
	var x outreachRead
	if err := rows.Scan(&x.scope, &x.corp, &x.k1, &x.k2, &x.k3, &x.cpos, &x.ppos, &x.kind, &x.cust, &x.staff, &x.chat, &x.msg,
		&x.at, &x.txt, &x.txt2, &x.list, &x.flag, &x.n1, &x.n2, &x.ts); err != nil {
		return err
	}
	x.at, x.ts = micro(x.at), micro(x.ts)
	if !f.started || x.scope != f.cur.scope || x.corp != f.cur.corp || x.k1 != f.cur.k1 || x.k2 != f.cur.k2 || x.k3 != f.cur.k3 {
		f.finishKey(out)
		f.startKey(x, out)
	}
	switch x.scope {
	case 1:
		f.addCustomer(x)
	case 2:
		f.addChat(x)
	case 3:
		f.addMessage(x)
	case 4:
		if !f.delivered {
			f.delivered, f.delivery = true, x
		}
	}
	return nil
}

func (f *outreachFold) finish(out *bulkOut) error {
	f.finishKey(out)
	f.flushCounts(out)
	return nil
}

// startKey resets the state for x's key.
func (f *outreachFold) startKey(x outreachRead, out *bulkOut) {
	f.started, f.cur = true, x
	switch x.scope {
	case 1:
		if !f.counts.on || f.counts.corp != x.corp {
			f.flushCounts(out)
			f.counts.on, f.counts.corp = true, x.corp
		}
		f.custExists, f.consent, f.changedAt, f.erased, f.lastContact = false, "", nil, false, nil
		f.pairs = f.pairs[:0]
	case 2:
		f.members = f.members[:0]
	case 3:
		f.message, f.msgExists = outreachMessage{}, false
	case 4:
		f.delivered = false
	}
}

// outreachCounts is a corp's outreach_counts row.
type outreachCounts struct {
	corp                                string
	on                                  bool
	customers, erased, withdrawn, opted int64
}

// flushCounts emits the outreach_counts row of the corp whose customers
// are done, if it has reachable ones (see dropZeroCounts).
func (f *outreachFold) flushCounts(out *bulkOut) {
	c := &f.counts
	if c.on && c.customers > 0 {
		out.emit("outreach_counts", c.corp, c.customers, c.erased, c.withdrawn, c.opted)
	}
	*c = outreachCounts{}
}

func (f *outreachFold) pair(staff string) *outreachPair {
	for _, p := range f.pairs {
		if p.staff == staff {
			return p
		}
	}
	return nil
}

// newPair adds a pair with the customer's columns copied in.
func (f *outreachFold) newPair(staff string) *outreachPair {
	p := &outreachPair{staff: staff, tags: []string{}, consent: f.consent, erased: f.erased, lastContact: f.lastContact}
	f.pairs = append(f.pairs, p)
	return p
}

func (f *outreachFold) addCustomer(x outreachRead) {
	switch x.kind {
	case orStarted:
		p := f.pair(x.staff)
		if p == nil {
			p = f.newPair(x.staff)
		}
		at := x.at
		p.active, p.channel, p.tags, p.since = true, x.txt, x.list, &at
	case orEdited:
		if p := f.pair(x.staff); p != nil {
			p.tags = x.list
		}
	case orEnded:
		if p := f.pair(x.staff); p != nil {
			p.active = false
		}
	case orErased:
		f.custExists, f.erased = true, true
		for _, p := range f.pairs {
			p.erased = true
		}
	case orMoments:
		p := f.pair(x.staff)
		if p == nil {
			p = f.newPair(x.staff)
		}
		p.opted = x.flag
	case orConsent:
		if !f.custExists || f.changedAt == nil || !f.changedAt.After(x.ts) {
			ts := x.ts
			f.custExists, f.consent, f.changedAt = true, x.txt, &ts
		}
		for _, p := range f.pairs {
			p.consent = f.consent
		}
	case orDeparted:
		if p := f.pair(x.staff); p != nil {
			p.departed = true
		}
	case orDelivered:
		at := x.at
		f.custExists = true
		if f.lastContact == nil || f.lastContact.Before(at) {
			f.lastContact = &at
		}
		for _, p := range f.pairs {
			if p.lastContact == nil || p.lastContact.Before(at) {
				p.lastContact = &at
			}
		}
	}
}

func (f *outreachFold) addChat(x outreachRead) {
	switch x.kind {
	case orJoined:
		for _, m := range f.members {
			if m == x.cust {
				return
			}
		}
		f.members = append(f.members, x.cust)
	case orLeft:
		for i, m := range f.members {
			if m == x.cust {
				f.members = append(f.members[:i], f.members[i+1:]...)
				return
			}
		}
	case orDismissed:
		f.members = f.members[:0]
	}
}

func (f *outreachFold) addMessage(x outreachRead) {
	m := &f.message
	if !f.msgExists {
		f.msgExists, m.channel, m.staff = true, x.txt, x.staff
	}
	at := x.at
	switch x.kind {
	case orPlanned:
		m.plannedAt, m.planned = &at, x.n1
	case orSent:
		m.reached += x.n1
		m.flagged += x.n2
		if m.lastSent == nil || m.lastSent.Before(at) {
			m.lastSent = &at
		}
	case orRefused:
		m.refused += x.n1
	}
}

// finishKey emits the rows of the current key.
func (f *outreachFold) finishKey(out *bulkOut) {
	if !f.started {
		return
	}
	f.started = false
	k := f.cur
	switch k.scope {
	case 1:
		if f.custExists {
			out.emit("outreach_customers", k.corp, k.k1, f.consent, f.changedAt, f.erased, f.lastContact)
		}
		live, erased, withdrawn, opted := 0, false, false, true
		for _, p := range f.pairs {
			out.emit("outreach_audience", k.corp, k.k1, p.staff, p.active, p.departed, p.channel, p.tags, p.opted, p.since,
				p.consent, p.erased, p.lastContact)
			if p.active && !p.departed {
				live++
				erased = erased || p.erased
				withdrawn = withdrawn || p.consent == events.ConsentDisagree
				opted = opted && p.opted
			}
		}
		if live > 0 {
			status := "open"
			switch {
			case erased:
				status = "erased"
				f.counts.erased++
			case withdrawn:
				status = "withdrawn"
				f.counts.withdrawn++
			}
			f.counts.customers++
			if opted {
				f.counts.opted++
			}
			out.emit("outreach_reach", k.corp, k.k1, status, opted)
		}
	case 2:
		for _, m := range f.members {
			out.emit("outreach_group_members", k.corp, k.k1, m)
		}
	case 3:
		m := f.message
		out.emit("outreach_messages", k.corp, k.k1, m.channel, m.staff, m.plannedAt, m.planned, m.reached, m.refused, m.flagged, m.lastSent)
	case 4:
		d := f.delivery
		out.emit("outreach_deliveries", k.corp, k.k1, k.k2, k.k3, d.txt, d.staff, d.at, d.flag, d.txt2, d.list)
	}
}
