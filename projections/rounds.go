package projections

import "strings"

// rounds schedules a batch's events into rounds for set-oriented writes.
//
// Keyed events touch only the rows of one (corp, customer, staff) key;
// events on different keys touch disjoint rows, so they commute. An event
// goes into the round after the last one that touched its key, and each
// round is written with one unnest statement per event type: no statement
// sees a key twice (so ON CONFLICT and UPDATE ... FROM never meet a row
// twice), and the events of each key still apply in log order. The number
// of statements of a batch is the number of rounds (the most events of one
// key) times the event types, instead of one per event.
//
// Barrier events touch every row of a staff member (departure) or of a
// customer (erasure); they go after every earlier event on that member or
// customer and after every earlier barrier, and later events on the member
// or customer go after them. A full barrier (an erasure in groups, which
// touches the customer's rows in every chat) follows everything before it
// and precedes everything after it.
type rounds struct {
	key         map[[3]string]int // last round of a keyed event
	staff       map[[2]string]int // last round of any event touching the member
	cust        map[[2]string]int // last round of any event touching the customer
	barStaff    map[[2]string]int // last round of a departure barrier
	barCust     map[[2]string]int // last round of an erasure barrier
	lastBarrier int
	floor       int // round of the last barrier on everything
	n           int // rounds used
}

func newRounds() *rounds {
	return &rounds{
		key: map[[3]string]int{}, staff: map[[2]string]int{}, cust: map[[2]string]int{},
		barStaff: map[[2]string]int{}, barCust: map[[2]string]int{},
	}
}

func (r *rounds) use(n int) int {
	if n > r.n {
		r.n = n
	}
	return n - 1
}

// keyed returns the round (0-based) of an event on (corp, customer, staff).
func (r *rounds) keyed(corp, customer, staff string) int {
	k := [3]string{corp, customer, staff}
	s, c := [2]string{corp, staff}, [2]string{corp, customer}
	n := 1 + max(r.key[k], r.barStaff[s], r.barCust[c], r.floor)
	r.key[k] = n
	r.staff[s] = max(r.staff[s], n)
	r.cust[c] = max(r.cust[c], n)
	return r.use(n)
}

// staffBarrier returns the round (0-based) of an event on every row of a
// staff member.
func (r *rounds) staffBarrier(corp, staff string) int {
	s := [2]string{corp, staff}
	n := 1 + max(r.staff[s], r.lastBarrier, r.floor)
	r.staff[s], r.barStaff[s], r.lastBarrier = n, n, n
	return r.use(n)
}

// customerBarrier returns the round (0-based) of an event on every row of
// a customer.
func (r *rounds) customerBarrier(corp, customer string) int {
	c := [2]string{corp, customer}
	n := 1 + max(r.cust[c], r.lastBarrier, r.floor)
	r.cust[c], r.barCust[c], r.lastBarrier = n, n, n
	return r.use(n)
}

// fullBarrier returns the round (0-based) of an event that must follow
// every earlier event and precede every later one.
func (r *rounds) fullBarrier() int {
	n := 1 + r.n
	r.floor, r.lastBarrier = n, n
	return r.use(n)
}

// grow returns s extended to hold index i.
func grow[T any](s []T, i int) []T {
	for len(s) <= i {
		var z T
		s = append(s, z)
	}
	return s
}

// arrayLiteral is the PostgreSQL text form of a text[] value: every
// element quoted, so that it reads back exactly (text[] cannot nest in the
// arrays an unnest statement takes, so lists travel as literals).
func arrayLiteral(s []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
