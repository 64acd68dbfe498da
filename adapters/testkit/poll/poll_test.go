package poll_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody/custody/adapters/testkit/poll"
)

// Until returns once another goroutine makes the condition true.
func TestUntilReturnsWhenTheConditionHolds(t *testing.T) {
	var done atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond)
		done.Store(true)
	}()
	checks := 0
	poll.Until(t, "the flag", func() bool { checks++; return done.Load() })
	if !done.Load() || checks < 2 {
		t.Fatalf("Until returned after %d checks with the flag %v", checks, done.Load())
	}
}

// fatalTB records a failure instead of ending the test, and has a
// deadline a minute and a second away, so Until gives up after a second.
type fatalTB struct {
	testing.TB
	failed string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f)
}
func (f *fatalTB) Deadline() (time.Time, bool) {
	return time.Now().Add(time.Minute + time.Second), true
}

// A condition that never holds fails the wait before the binary's
// deadline, naming what was waited for.
func TestUntilFailsBeforeTheDeadline(t *testing.T) {
	f := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("Until did not fail: %v", r)
			}
		}()
		poll.Until(f, "never", func() bool { return false })
	}()
	if f.failed == "" {
		t.Fatal("no failure recorded")
	}
}
