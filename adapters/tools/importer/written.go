package importer

import "hash/maphash"

// writtenFilter remembers, approximately and in fixed memory, the streams
// a run wrote before evicting their aggregates from its caches: a Bloom
// filter. "Not written" is certain, "maybe written" is not: a stream the
// filter does not know need not be read back from the log, one it might
// know is read. Filled up beyond its design, it answers "maybe" more
// often: more reads, never a wrong decision.
type writtenFilter struct {
	seed maphash.Seed
	bits []uint64
}

// writtenFilterBits is the filter's size: 2^27 bits (16 MiB), a false
// "maybe" for under 1 % of lookups up to about 10 million streams written.
const (
	writtenFilterBits   = 1 << 27
	writtenFilterHashes = 4
)

func newWrittenFilter() *writtenFilter {
	return &writtenFilter{seed: maphash.MakeSeed(), bits: make([]uint64, writtenFilterBits/64)}
}

// positions are the filter's bits for stream (double hashing).
func (f *writtenFilter) positions(stream string, do func(bit uint64) bool) bool {
	h := maphash.String(f.seed, stream)
	h1, h2 := h, h>>32|h<<32|1
	for i := range uint64(writtenFilterHashes) {
		if !do((h1 + i*h2) % writtenFilterBits) {
			return false
		}
	}
	return true
}

func (f *writtenFilter) add(stream string) {
	f.positions(stream, func(bit uint64) bool {
		f.bits[bit/64] |= 1 << (bit % 64)
		return true
	})
}

// mayHold reports whether stream may have been added.
func (f *writtenFilter) mayHold(stream string) bool {
	return f.positions(stream, func(bit uint64) bool {
		return f.bits[bit/64]&(1<<(bit%64)) != 0
	})
}
