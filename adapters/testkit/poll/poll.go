// Package poll waits, in tests, for a condition another goroutine or
// process makes true: a row committed, a runner taking over, a broker
// delivering. It polls (a condition, not a clock), and turns a hang into
// a failure that names what was waited for and where.
package poll

import (
	"testing"
	"time"
)

// Limit bounds a wait in a test: far beyond what any wait takes on a
// loaded machine under -race (seconds), so that reaching it means a hang,
// not slowness.
const Limit = 4 * time.Minute

// Interval is the pause between two checks of a condition.
const Interval = 5 * time.Millisecond

// Until polls cond until it holds. In a test, a condition that still does
// not hold after Limit, or a minute before the test binary's deadline
// (whichever comes first), fails the test with what, at the line that
// waited (Until and the helpers calling it are t.Helper), rather than
// leaving the binary to time out with every test unnamed in a goroutine
// dump. A benchmark waits for its work however long it takes.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	give := start.Add(Limit)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if end, ok := d.Deadline(); ok && end.Add(-time.Minute).Before(give) {
			give = end.Add(-time.Minute)
		}
	}
	_, bench := t.(*testing.B)
	for !cond() {
		if !bench && time.Now().After(give) {
			t.Fatalf("waited %v in vain until %s", time.Since(start).Round(time.Second), what)
		}
		time.Sleep(Interval)
	}
}
