package projections

// sqlOutreach is the outreach projection as its statements alone build
// it: live, and in a rebuild replayed event by event (no bulkPlan). It is
// the rebuild benchmark's baseline, the code before outreach's rebuild
// became a fold.
type sqlOutreach struct{}

func (sqlOutreach) Name() string                   { return Outreach{}.Name() }
func (sqlOutreach) Tables() []string               { return Outreach{}.Tables() }
func (sqlOutreach) Migrations() []string           { return Outreach{}.Migrations() }
func (sqlOutreach) Apply(w *Writer, e Event) error { return Outreach{}.Apply(w, e) }
