package projections

import (
	"slices"

	"github.com/custody/custody/events"
)

// Outreach's live driver runs the fold of its rebuild (outreach_rebuild.go)
// on a batch: the state of a key and what a fact does to it are defined
// once (outreachCustomer, outreachChat, outreachMessageKey,
// outreachDelivery), started from empty by the rebuild and from the key's
// stored rows here.
//
// The (corp, customer), (corp, chat) and (corp, message) spaces are each
// a fold definition run by the Writer's fold driver (fold.go): the
// batch's keys' rows are loaded in one round trip (a departure reaches
// every customer with a stored pair of the member, loaded as the
// rebuild's join reaches them), each key is seeded from its rows and fed
// the batch's facts in log order, and only the rows that changed are
// written back, set-based. A delivery keeps its first report: its fold,
// started from empty on the batch's reports, is inserted where no row is
// (ON CONFLICT DO NOTHING), which is the fold started from the stored
// row; the statement returns the deliveries it wrote, whose window
// counters it adds to (queueDeliveries).
//
// The counters derived from the rows are kept by statements that run
// after the folds' writes, in the same transaction: the reach of the
// customers whose reach the batch changed, as their folds computed it
// from their final audience rows (outreachCustomerFold, queueReach), and
// a zone change cuts the window counters again (queueZone). The rebuild computes the same
// counters from the final rows instead (outreachFold, outreachFinish).

// outreachSpace is a key space of outreach as a fold projection of its
// own (named outreach/<space> in the Writer), so that the Writer's fold
// driver runs it.
type outreachSpace struct {
	name string
	d    *definition
}

func (s outreachSpace) Name() string                   { return s.name }
func (outreachSpace) Tables() []string                 { return nil }
func (outreachSpace) Migrations() []string             { return nil }
func (s outreachSpace) Apply(w *Writer, e Event) error { return w.addFacts(s, []Event{e}) }
func (s outreachSpace) definition() *definition        { return s.d }

var outreachSpaces = []outreachSpace{
	{"outreach/customers", outreachCustomersDef},
	{"outreach/chats", outreachChatsDef},
	{"outreach/messages", outreachMessagesDef},
}

// outreachFacts normalises the facts of every space, as the fold reads
// them (see definition.factOf).
var outreachFacts = prepared(&definition{staging: outreachStaging, fact: outreachFact})

var outreachCustomersDef = prepared(&definition{
	staging: outreachStaging,
	key:     []string{"corp", "cust"},
	fact:    outreachCustomerFact,
	tables: []foldTable{{
		name: "outreach_customers",
		cols: []string{"corp_id text", "customer_id text", "marketing_consent text", "consent_changed_at timestamptz",
			"erased boolean", "last_contact_at timestamptz"},
		pk:  []string{"corp_id", "customer_id"},
		key: []string{"corp_id", "customer_id"},
	}, {
		name: "outreach_audience",
		cols: []string{"corp_id text", "customer_id text", "staff_id text", "active boolean", "staff_departed boolean",
			"channel text", "tags text[]", "moments_opted_out boolean", "since timestamptz", "marketing_consent text",
			"erased boolean", "last_contact_at timestamptz"},
		pk:  []string{"corp_id", "customer_id", "staff_id"},
		key: []string{"corp_id", "customer_id"},
	}},
	newFold: func() keyFold { return &outreachCustomerFold{} },
	written: queueReach,
	// The pairs a batch creates by a moments opt-out are reached by an
	// orPairDeparted fact of their own (outreachSpaceEvents).
	fanouts: []fanout{{
		kind: orDeparted, from: orStarted, match: []string{"corp", "staff"},
		table: "outreach_audience", tableKey: []string{"corp_id", "customer_id"}, tableMatch: []string{"corp_id", "staff_id"},
		where: "NOT f.staff_departed",
	}},
})

var outreachChatsDef = membersUpsert(prepared(&definition{
	staging: outreachStaging,
	key:     []string{"corp", "chat"},
	fact:    outreachKinds(orJoined, orLeft, orDismissed),
	tables: []foldTable{{
		name: "outreach_group_members",
		cols: []string{"corp_id text", "chat_id text", "customer_id text"},
		pk:   []string{"corp_id", "chat_id", "customer_id"},
		key:  []string{"corp_id", "chat_id"},
		// A join or leave changes only its customer's row; a dismissal
		// empties the chat.
		narrow: []string{"cust"}, narrowCols: []string{"customer_id"}, whole: []int16{orDismissed},
	}},
	newFold: func() keyFold { return &outreachKeyFold[outreachChat, *outreachChat]{} },
}))

// membersUpsert gives outreach_group_members, whose columns are all its
// primary key, an upsert that inserts the rows absent (the generic one
// has no column to update).
func membersUpsert(d *definition) *definition {
	d.tables[0].upsertQ = `INSERT INTO {s}.outreach_group_members AS t (corp_id, chat_id, customer_id)
		SELECT u.corp_id, u.chat_id, u.customer_id FROM unnest($1::text[], $2::text[], $3::text[]) AS u(corp_id, chat_id, customer_id)
		ON CONFLICT DO NOTHING`
	return d
}

var outreachMessagesDef = prepared(&definition{
	staging: outreachStaging,
	key:     []string{"corp", "msg"},
	fact:    outreachKinds(orPlanned, orSent, orRefused),
	tables: []foldTable{{
		name: "outreach_messages",
		cols: []string{"corp_id text", "message_id text", "channel text", "staff_id text", "planned_at timestamptz",
			"planned bigint", "reached bigint", "refused bigint", "flagged bigint", "last_sent_at timestamptz"},
		pk:  []string{"corp_id", "message_id"},
		key: []string{"corp_id", "message_id"},
	}},
	newFold: func() keyFold { return &outreachKeyFold[outreachMessageKey, *outreachMessageKey]{} },
})

// outreachKinds returns the fact function keeping the facts of kinds.
func outreachKinds(kinds ...int16) func(Event) []any {
	return func(e Event) []any {
		if r := outreachFact(e); r != nil && slices.Contains(kinds, r[0].(int16)) {
			return r
		}
		return nil
	}
}

// outreachGroup reports whether a delivery fact went to a group (the
// rebuild query's rule).
func outreachGroup(chat, cust string) bool { return chat != "" && cust == "" }

// outreachCustomerFact is the fact of the (corp, customer) space: what
// outreachQuery reads in scope 1.
func outreachCustomerFact(e Event) []any {
	if p, ok := e.Payload.(*outreachPairDeparture); ok {
		r := outreachFact(Event{Recorded: e.Recorded, Payload: &events.StaffDeparted{StaffID: p.StaffID}})
		r[0], r[ofCust] = orPairDeparted, p.CustomerID
		return r
	}
	r := outreachFact(e)
	if r == nil {
		return nil
	}
	switch r[0].(int16) {
	case orStarted, orEdited, orEnded, orErased, orMoments, orConsent, orDeparted:
		return r
	case orDelivered:
		if !outreachGroup(r[ofChat].(string), r[ofCust].(string)) {
			return r
		}
	}
	return nil
}

// outreachPairDeparture is a departure of StaffID reaching CustomerID's
// pair with the member, which the batch created by a moments opt-out: the
// fanout finds the pairs stored or started in the batch, not these. It is
// never stored.
type outreachPairDeparture struct {
	CustomerID, StaffID string
}

// EventType implements events.Payload.
func (*outreachPairDeparture) EventType() string { return "outreach.pair_departed" }

// outreachSpaceEvents returns evs with, after each departure, an
// outreachPairDeparture for each customer the batch opted out of (or
// into) the member's moments before it.
func outreachSpaceEvents(evs []Event) []Event {
	type member struct{ corp, staff string }
	var opted map[member][]string
	var out []Event
	for i, e := range evs {
		switch p := e.Payload.(type) {
		case *events.MomentsOptedOut, *events.MomentsOptedIn:
			f := outreachFact(e)
			if opted == nil {
				opted = map[member][]string{}
			}
			m, cust := member{e.CorpID, f[ofStaff].(string)}, f[ofCust].(string)
			if !slices.Contains(opted[m], cust) {
				opted[m] = append(opted[m], cust)
			}
		case *events.StaffDeparted:
			custs := opted[member{e.CorpID, p.StaffID}]
			if len(custs) == 0 {
				break
			}
			if out == nil {
				out = slices.Clone(evs[:i])
			}
			out = append(out, e)
			for _, c := range custs {
				out = append(out, Event{Recorded: e.Recorded, Payload: &outreachPairDeparture{CustomerID: c, StaffID: p.StaffID}})
			}
			continue
		}
		if out != nil {
			out = append(out, e)
		}
	}
	if out == nil {
		return evs
	}
	return out
}

// outreachReadOf is a normalised fact as the rebuild reads it.
func outreachReadOf(f []any) outreachRead {
	return outreachRead{kind: vKind(f), corp: vStr(f, 1), cust: vStr(f, ofCust), staff: vStr(f, ofStaff), chat: vStr(f, ofChat),
		msg: vStr(f, ofMsg), cpos: vInt(f, 6), ppos: vInt(f, 7), at: vTime(f, ofAt), txt: vStr(f, ofTxt), txt2: vStr(f, ofTxt2),
		list: vList(f, ofList), flag: vBool(f, ofFlag), n1: vInt(f, ofN1), n2: vInt(f, ofN2), ts: vTime(f, ofTs)}
}

// outreachState is a key state of the rebuild's fold (outreachCustomer,
// outreachChat, outreachMessageKey).
type outreachState interface {
	seed(rows map[string][][]any)
	add(x outreachRead)
	emit(out *bulkOut, corpID, key string)
}

// outreachKeyFold is the live driver's fold of a key: the rebuild's state
// S, seeded from the key's stored rows.
type outreachKeyFold[S any, P interface {
	*S
	outreachState
}] struct {
	key foldKey
	s   S
}

func (f *outreachKeyFold[S, P]) seed(k foldKey, rows map[string][][]any) {
	f.key = k
	P(&f.s).seed(rows)
}
func (f *outreachKeyFold[S, P]) add(fact []any) error { P(&f.s).add(outreachReadOf(fact)); return nil }
func (f *outreachKeyFold[S, P]) finish(out *bulkOut)  { P(&f.s).emit(out, f.key[0], f.key[1]) }

// applyBatch hands the batch's facts to the folds of the key spaces (the
// customers' fold also writes the reach of those whose reach changed,
// queueReach), then queues, per corp, its deliveries (the first report of
// each, written before a zone change of the corp, and its window
// counters) and the zone changes: these statements run after the folds'
// writes.
func (Outreach) applyBatch(w *Writer, evs []Event) error {
	spaceEvs := outreachSpaceEvents(evs)
	for _, s := range outreachSpaces {
		if err := w.addFacts(s, spaceEvs); err != nil {
			return err
		}
	}
	type deliveryKey struct{ corp, kind, id, msg string }
	var delivered map[deliveryKey]*outreachDelivery
	b := outreachBatch{corps: map[string]*outreachCorpBatch{}}
	for _, e := range evs {
		if e.Payload == nil {
			continue
		}
		fact, err := outreachFacts.factOf(e)
		if err != nil {
			return err
		}
		if fact == nil {
			continue
		}
		x := outreachReadOf(fact)
		switch x.kind {
		case orDelivered:
			k := deliveryKey{x.corp, "customer", x.cust, x.msg}
			if outreachGroup(x.chat, x.cust) {
				k.kind, k.id = "group", x.chat
			}
			if delivered == nil {
				delivered = map[deliveryKey]*outreachDelivery{}
			}
			d := delivered[k]
			if d == nil {
				d = &outreachDelivery{}
				delivered[k] = d
			}
			if !d.done {
				d.add(x)
				b.of(x.corp).deliver(k.kind, k.id, d.first)
			}
		case orZone:
			if c := b.corps[x.corp]; c != nil {
				c.queueDeliveries(w, x.corp)
			}
			queueZone(w, x.corp, x.txt)
		}
	}
	b.queueEnd(w)
	return nil
}

// queueEnd queues, per corp, the deliveries left.
func (b *outreachBatch) queueEnd(w *Writer) {
	for _, corpID := range b.order {
		b.corps[corpID].queueDeliveries(w, corpID)
	}
}
