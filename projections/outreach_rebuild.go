package projections

import (
	"fmt"
	"maps"
	"slices"
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
// The fold of a key is the live driver's too (outreach_live.go), there
// seeded from the key's stored rows. The window counters (outreach_zones,
// outreach_usage, outreach_corp_usage) are computed once from the final
// rows, in SQL (outreachFinish): live, every delivery written adds to the
// windows of the zone the projection knows and a zone change cuts every
// window again in the new zone, so at any position they are the
// deliveries' counts in the corp's zone then. A shadow is an ordinary one
// after the fold.

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
	// orPairDeparted is a departure folded into one (corp, customer) key
	// directly (the live driver's, see outreachSpaceFacts).
	orPairDeparted
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
		ORDER BY 1, 3, 4, 5, 2, 6, 7`,
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

// outreachFold folds the sorted facts of every key space (see above),
// each key from empty. The state of a key of each space, and what a fact
// does to it, are outreachCustomer, outreachChat, outreachMessageKey and
// outreachDelivery, which the live driver seeds from the stored rows
// instead (outreach_live.go).
type outreachFold struct {
	started bool
	cur     outreachRead // the key's first fact

	customer outreachCustomer
	// outreach_counts by corp, emitted at the end
	counts   map[string]*outreachCounts
	chat     outreachChat
	message  outreachMessageKey
	delivery outreachDelivery
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
		f.customer.add(x)
	case 2:
		f.chat.add(x)
	case 3:
		f.message.add(x)
	case 4:
		f.delivery.add(x)
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
		f.customer.seed(nil)
	case 2:
		f.chat.seed(nil)
	case 3:
		f.message.seed(nil)
	case 4:
		f.delivery = outreachDelivery{}
	}
}

// outreachCounts is a corp's outreach_counts row.
type outreachCounts struct {
	customers, erased, withdrawn, opted int64
}

// flushCounts emits the outreach_counts rows of the corps with reachable
// customers (see dropZeroCounts), in corp order. The fold reads keys
// sorted with the corp last (a column that hardly varies sorts slowly
// first), so a corp's customers are not together: its counts are summed
// in a map of one entry per corp.
func (f *outreachFold) flushCounts(out *bulkOut) {
	for _, corp := range slices.Sorted(maps.Keys(f.counts)) {
		if c := f.counts[corp]; c.customers > 0 {
			out.emit("outreach_counts", corp, c.customers, c.erased, c.withdrawn, c.opted)
		}
	}
	f.counts = nil
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
		f.customer.emit(out, k.corp, k.k1)
		if live, status, opted := f.customer.reach(); live {
			if f.counts == nil {
				f.counts = map[string]*outreachCounts{}
			}
			c := f.counts[k.corp]
			if c == nil {
				c = &outreachCounts{}
				f.counts[k.corp] = c
			}
			c.customers++
			switch status {
			case "erased":
				c.erased++
			case "withdrawn":
				c.withdrawn++
			}
			if opted {
				c.opted++
			}
			out.emit("outreach_reach", k.corp, k.k1, status, opted)
		}
	case 2:
		f.chat.emit(out, k.corp, k.k1)
	case 3:
		f.message.emit(out, k.corp, k.k1)
	case 4:
		d := f.delivery.first
		out.emit("outreach_deliveries", k.corp, k.k1, k.k2, k.k3, d.txt, d.staff, d.at, d.flag, d.txt2, d.list)
	}
}

// outreachCustomer is the state of a (corp, customer) key: its
// outreach_customers row (exists tells whether it has one) and its
// outreach_audience rows.
type outreachCustomer struct {
	exists      bool
	consent     string
	changedAt   *time.Time
	erased      bool
	lastContact *time.Time
	pairs       []*outreachPair
}

// seed starts the customer from its stored rows (columns as
// outreachCustomersDef's tables list them), or from nothing.
func (c *outreachCustomer) seed(rows map[string][][]any) {
	*c = outreachCustomer{pairs: c.pairs[:0]}
	if r := rows["outreach_customers"]; len(r) > 0 {
		row := r[0]
		c.exists, c.consent, c.changedAt, c.erased, c.lastContact = true, vStr(row, 2), vTimePtr(row, 3), vBool(row, 4), vTimePtr(row, 5)
	}
	for _, row := range rows["outreach_audience"] {
		c.pairs = append(c.pairs, &outreachPair{staff: vStr(row, 2), active: vBool(row, 3), departed: vBool(row, 4),
			channel: vStr(row, 5), tags: nonNil(vList(row, 6)), opted: vBool(row, 7), since: vTimePtr(row, 8),
			consent: vStr(row, 9), erased: vBool(row, 10), lastContact: vTimePtr(row, 11)})
	}
}

func (c *outreachCustomer) pair(staff string) *outreachPair {
	for _, p := range c.pairs {
		if p.staff == staff {
			return p
		}
	}
	return nil
}

// newPair adds a pair with the customer's columns copied in.
func (c *outreachCustomer) newPair(staff string) *outreachPair {
	p := &outreachPair{staff: staff, tags: []string{}, consent: c.consent, erased: c.erased, lastContact: c.lastContact}
	c.pairs = append(c.pairs, p)
	return p
}

// add folds the customer's next fact.
func (c *outreachCustomer) add(x outreachRead) {
	switch x.kind {
	case orStarted:
		p := c.pair(x.staff)
		if p == nil {
			p = c.newPair(x.staff)
		}
		at := x.at
		p.active, p.channel, p.tags, p.since = true, x.txt, nonNil(x.list), &at
	case orEdited:
		if p := c.pair(x.staff); p != nil {
			p.tags = nonNil(x.list)
		}
	case orEnded:
		if p := c.pair(x.staff); p != nil {
			p.active = false
		}
	case orErased:
		c.exists, c.erased = true, true
		for _, p := range c.pairs {
			p.erased = true
		}
	case orMoments:
		p := c.pair(x.staff)
		if p == nil {
			p = c.newPair(x.staff)
		}
		p.opted = x.flag
	case orConsent:
		if !c.exists || c.changedAt == nil || !c.changedAt.After(x.ts) {
			ts := x.ts
			c.exists, c.consent, c.changedAt = true, x.txt, &ts
		}
		for _, p := range c.pairs {
			p.consent = c.consent
		}
	case orDeparted, orPairDeparted:
		if p := c.pair(x.staff); p != nil {
			p.departed = true
		}
	case orDelivered:
		at := x.at
		c.exists = true
		if c.lastContact == nil || c.lastContact.Before(at) {
			c.lastContact = &at
		}
		for _, p := range c.pairs {
			if p.lastContact == nil || p.lastContact.Before(at) {
				p.lastContact = &at
			}
		}
	}
}

// emit emits the customer's rows.
func (c *outreachCustomer) emit(out *bulkOut, corpID, customerID string) {
	if c.exists {
		out.emit("outreach_customers", corpID, customerID, c.consent, c.changedAt, c.erased, c.lastContact)
	}
	for _, p := range c.pairs {
		out.emit("outreach_audience", corpID, customerID, p.staff, p.active, p.departed, p.channel, p.tags, p.opted, p.since,
			p.consent, p.erased, p.lastContact)
	}
}

// reach is the customer's outreach_reach row: whether it has one (an
// active pair with a member who has not departed), its status and whether
// it opted out of every such member's moments (reachRefresh's rule).
func (c *outreachCustomer) reach() (live bool, status string, opted bool) {
	erased, withdrawn, opted := false, false, true
	for _, p := range c.pairs {
		if p.active && !p.departed {
			live = true
			erased = erased || p.erased
			withdrawn = withdrawn || p.consent == events.ConsentDisagree
			opted = opted && p.opted
		}
	}
	switch {
	case erased:
		status = "erased"
	case withdrawn:
		status = "withdrawn"
	default:
		status = "open"
	}
	return live, status, opted
}

// outreachChat is the state of a (corp, chat) key: the customers in the
// group.
type outreachChat struct {
	members []string
}

// seed starts the chat from its stored rows, or from nothing.
func (c *outreachChat) seed(rows map[string][][]any) {
	c.members = c.members[:0]
	for _, row := range rows["outreach_group_members"] {
		c.members = append(c.members, vStr(row, 2))
	}
}

func (c *outreachChat) add(x outreachRead) {
	switch x.kind {
	case orJoined:
		if slices.Contains(c.members, x.cust) {
			return
		}
		c.members = append(c.members, x.cust)
	case orLeft:
		if i := slices.Index(c.members, x.cust); i >= 0 {
			c.members = slices.Delete(c.members, i, i+1)
		}
	case orDismissed:
		c.members = c.members[:0]
	}
}

func (c *outreachChat) emit(out *bulkOut, corpID, chatID string) {
	for _, m := range c.members {
		out.emit("outreach_group_members", corpID, chatID, m)
	}
}

// outreachMessageKey is the state of a (corp, message) key: its
// outreach_messages row, once it has one.
type outreachMessageKey struct {
	exists bool
	m      outreachMessage
}

// seed starts the message from its stored row, or from nothing.
func (k *outreachMessageKey) seed(rows map[string][][]any) {
	*k = outreachMessageKey{}
	if r := rows["outreach_messages"]; len(r) > 0 {
		row := r[0]
		k.exists = true
		k.m = outreachMessage{channel: vStr(row, 2), staff: vStr(row, 3), plannedAt: vTimePtr(row, 4), planned: vInt(row, 5),
			reached: vInt(row, 6), refused: vInt(row, 7), flagged: vInt(row, 8), lastSent: vTimePtr(row, 9)}
	}
}

func (k *outreachMessageKey) add(x outreachRead) {
	m := &k.m
	if !k.exists {
		k.exists, m.channel, m.staff = true, x.txt, x.staff
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

func (k *outreachMessageKey) emit(out *bulkOut, corpID, messageID string) {
	if !k.exists {
		return
	}
	m := k.m
	out.emit("outreach_messages", corpID, messageID, m.channel, m.staff, m.plannedAt, m.planned, m.reached, m.refused, m.flagged, m.lastSent)
}

// outreachDelivery is the state of a (corp, recipient kind, recipient,
// message) key: the first report of the delivery is kept.
type outreachDelivery struct {
	done  bool
	first outreachRead
}

func (d *outreachDelivery) add(x outreachRead) {
	if !d.done {
		d.done, d.first = true, x
	}
}
