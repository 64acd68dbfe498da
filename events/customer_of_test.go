package events

import (
	"strings"
	"testing"
)

// TestCustomerOf: every payload of a customer stream names its customer,
// and no payload of another stream category does.
func TestCustomerOf(t *testing.T) {
	for typ, p := range samples() {
		id, ok := CustomerOf(p)
		customerStream := false
		for _, prefix := range []string{"customer.", "moments.", "consent.", "handover."} {
			customerStream = customerStream || strings.HasPrefix(typ, prefix)
		}
		switch {
		case customerStream && (!ok || id != "wmABC"):
			t.Errorf("%s: CustomerOf = %q, %v; want wmABC", typ, id, ok)
		case !customerStream && ok:
			t.Errorf("%s: CustomerOf = %q for a payload of another stream", typ, id)
		}
	}
}
