package kurrentstandin

import (
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
)

// FuzzIDs feeds arbitrary event ids in both wire forms: decoding never
// panics, and an id that decodes renders back (as halves or as a string)
// to the same 16 bytes.
func FuzzIDs(f *testing.F) {
	f.Add(int64(0), int64(0), "")
	f.Add(int64(-1), int64(1<<62), "01a200f8-31bf-7782-9a17-0b280aadd813")
	f.Add(int64(42), int64(-42), "not-a-uuid")
	f.Add(int64(1), int64(2), "{01a200f8-31bf-7782-9a17-0b280aadd813}")
	f.Fuzz(func(t *testing.T, hi, lo int64, s string) {
		for _, id := range []*shared.UUID{
			{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: hi, LeastSignificantBits: lo}}},
			{Value: &shared.UUID_String_{String_: s}},
			{},
			nil,
		} {
			b, err := idBytes(id)
			if err != nil {
				continue
			}
			for _, asString := range []bool{false, true} {
				again, err := idBytes(wireID(id, asString))
				if err != nil || again != b {
					t.Fatalf("id %v rendered (string %v) decodes to %v, %v", uuid.UUID(b), asString, uuid.UUID(again), err)
				}
				if !sameID(id, wireID(id, asString)) {
					t.Fatalf("id %v differs from its own rendering", uuid.UUID(b))
				}
			}
		}
	})
}
