package logcopy

import (
	"testing"

	"github.com/custody/custody/events"
)

// FuzzDecodeCheckpoint feeds arbitrary checkpoint file contents (a file
// users may edit or truncate): decoding never panics, an error never
// comes with a position, and an accepted position survives its own
// string form (what Save writes).
func FuzzDecodeCheckpoint(f *testing.F) {
	for _, seed := range []string{
		`{"source":"a","destination":"b","position":"12/34"}`,
		`{"source":"a","destination":"c","position":"12/34"}`,
		`{"source":"a","destination":"b","position":""}`,
		`{"source":"a","destination":"b","position":"x/y"}`,
		`{"source":"a","destination":"b","position":"-1/2"}`,
		`{`, ``, `null`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pos, err := decodeCheckpoint(b, "a", "b")
		if err != nil {
			if !pos.IsZero() {
				t.Fatalf("error %v with position %v", err, pos)
			}
			return
		}
		again, err := events.ParsePosition(pos.String())
		if err != nil || again != pos {
			t.Fatalf("position %v does not survive its string form: %v, %v", pos, again, err)
		}
	})
}
