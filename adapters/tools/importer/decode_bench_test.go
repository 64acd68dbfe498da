package importer

import (
	"bufio"
	"bytes"
	"testing"
)

// BenchmarkDecode decodes the lines of a sample file (staff, relations,
// groups and members in the generator's proportions), one Decode per op.
func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	if err := WriteSample(&buf, Sample{Staff: 100, Relations: 2000, Groups: 50, MembersPerGroup: 20, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := Decode(lines[i%len(lines)], i+1, "acme", testNow); err != nil {
			b.Fatal(err)
		}
	}
}
