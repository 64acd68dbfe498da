package importer

import (
	"fmt"
	"testing"
)

// TestWrittenFilter: every stream added is reported as possibly held;
// streams not added almost never are.
func TestWrittenFilter(t *testing.T) {
	f := newWrittenFilter()
	const n = 200_000
	for i := range n {
		f.add(fmt.Sprintf("customer-acme-wm%08d", i))
	}
	for i := range n {
		if s := fmt.Sprintf("customer-acme-wm%08d", i); !f.mayHold(s) {
			t.Fatalf("%s added but not held", s)
		}
	}
	maybe := 0
	for i := n; i < 2*n; i++ {
		if f.mayHold(fmt.Sprintf("customer-acme-wm%08d", i)) {
			maybe++
		}
	}
	if maybe > n/1000 {
		t.Errorf("%d of %d streams never added reported as possibly held", maybe, n)
	}
	if newWrittenFilter().mayHold("customer-acme-wm00000001") {
		t.Error("an empty filter holds a stream")
	}
}
