package projections

import (
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// Consents is the "consents" projection: table consents, each customer's
// current state per purpose (the change with the latest changed_at wins, so
// a late-ingested older change does not overwrite a newer one), and
// consent_history, every recorded change.
//
// It is a fold projection (see foldProjection): one fold per (customer,
// purpose) over the recorded changes.
type Consents struct{}

// Name implements Projection.
func (Consents) Name() string { return "consents" }

// Tables implements Projection.
func (Consents) Tables() []string { return []string{"consents", "consent_history"} }

// Migrations implements Projection.
func (Consents) Migrations() []string { return migrations("consents") }

// Apply implements Projection: it hands e's fact to w's fold.
func (c Consents) Apply(w *Writer, e Event) error { return w.addFacts(c, []Event{e}) }

func (Consents) definition() *definition { return consentsDefinition }

// Kinds of consent facts.
const (
	conRecorded int16 = iota + 1
)

var consentsDefinition = prepared(&definition{
	staging: []string{"kind smallint", "corp text", "cust text", "purpose text", "cpos bigint", "ppos bigint",
		"state text", "changed timestamptz", "recorded timestamptz"},
	key:  []string{"corp", "cust", "purpose"},
	fact: consentFact,
	tables: []foldTable{{
		name: "consents",
		cols: []string{"corp_id text", "customer_id text", "purpose text", "state text", "changed_at timestamptz", "recorded_at timestamptz"},
		pk:   []string{"corp_id", "customer_id", "purpose"},
		key:  []string{"corp_id", "customer_id", "purpose"},
	}, {
		name: "consent_history",
		cols: []string{"corp_id text", "customer_id text", "purpose text", "state text", "changed_at timestamptz",
			"recorded_at timestamptz", "commit_pos bigint", "prepare_pos bigint"},
		pk:    []string{"commit_pos", "prepare_pos"},
		key:   []string{"corp_id", "customer_id", "purpose"},
		added: true,
	}},
	newFold: func() keyFold { return &consentFold{} },
})

func consentFact(e Event) []any {
	p, ok := e.Payload.(*events.ConsentRecorded)
	if !ok {
		return nil
	}
	changed := p.ChangedAt
	if changed.IsZero() {
		changed = e.OccurredAt
	}
	return []any{conRecorded, e.CorpID, p.CustomerID, p.Purpose, int64(e.Position.Commit), int64(e.Position.Prepare),
		p.State, changed, e.RecordedAt}
}

// consentFold is one (corp, customer, purpose): every change is a history
// row, in log order; a change replaces the current row unless the row's
// changed_at is later (an equal one, at PostgreSQL's microseconds,
// replaces it).
type consentFold struct {
	key               foldKey
	exists            bool
	state             string
	changed, recorded time.Time
	history           [][]any
}

func (f *consentFold) seed(k foldKey, rows map[string][][]any) {
	*f = consentFold{key: k}
	for _, r := range rows["consents"] {
		f.exists, f.state, f.changed, f.recorded = true, vStr(r, 3), vTime(r, 4), vTime(r, 5)
	}
}

func (f *consentFold) add(r []any) error {
	if vKind(r) != conRecorded {
		return fmt.Errorf("unknown consent fact kind %d", vKind(r))
	}
	state, changed, recorded := vStr(r, 6), vTime(r, 7), vTime(r, 8)
	f.history = append(f.history, []any{f.key[0], f.key[1], f.key[2], state, changed, recorded, vInt(r, 4), vInt(r, 5)})
	if !f.exists || !changed.Before(f.changed) {
		f.exists, f.state, f.changed, f.recorded = true, state, changed, recorded
	}
	return nil
}

func (f *consentFold) finish(out *bulkOut) {
	for _, h := range f.history {
		out.emit("consent_history", h...)
	}
	if f.exists {
		out.emit("consents", f.key[0], f.key[1], f.key[2], f.state, f.changed, f.recorded)
	}
}
