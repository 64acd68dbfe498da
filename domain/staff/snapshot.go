package staff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// snapshotTag opens every encoded snapshot: the format and its version. A
// change of the layout below is a new tag; data with another tag (v1: the
// slots one by one, strings and times in full) is not decoded: the caller
// rebuilds the aggregate from its stream and writes the new format.
const snapshotTag = "custody.staff.v2\x00"

// ErrBadSnapshot: MarshalSnapshot's output was expected, something else was
// given (another format version, truncated or corrupt data, another member).
var ErrBadSnapshot = errors.New("staff: bad snapshot")

// MarshalSnapshot encodes the aggregate's whole state as of Version, for
// FromSnapshot: a header, then the slots front-coded in customer order
// (see snapSlots), then a checksum. It holds no personal data: the
// member's name is never part of the aggregate, slots name customers by
// id only. It costs one pass over the slots when the member was itself
// restored from a snapshot, a sort of them otherwise.
func (s *Staff) MarshalSnapshot() []byte {
	data, _ := s.encode()
	return data
}

// Compact returns MarshalSnapshot's output and the member as FromSnapshot
// restores it from that output (the same state, its slots read in place
// in the encoding, none in maps), without decoding it again: a caller
// that keeps a member and writes its snapshots keeps the compact one. s
// does not change; the compact member reads its slots in the returned
// bytes, which must not be changed.
func (s *Staff) Compact() ([]byte, *Staff) {
	data, w := s.encode()
	c := *s
	c.base = &snapBase{version: s.version, sum: binary.LittleEndian.Uint32(data[len(data)-4:])}
	c.slots = slotSet{}
	if w.i > 0 {
		c.slots = slotSet{base: w.slots(data[w.start : len(data)-4 : len(data)-4]), n: w.i}
	}
	if !c.departedAt.IsZero() {
		c.departedAt = time.UnixMicro(c.departedAt.UnixMicro()).UTC()
	}
	return data, &c
}

func (s *Staff) encode() ([]byte, *slotEncoder) {
	w := &slotEncoder{floor: s.slots.floor(), restarts: make([]int32, 0, s.slots.len()/restartEvery+1), heads: make([][2]int32, 0, s.slots.len()/restartEvery+1)}
	w.b = make([]byte, 0, len(snapshotTag)+64+s.slots.len()*8)
	if s.slots.base != nil {
		w.b = make([]byte, 0, len(snapshotTag)+64+len(s.slots.base.b)+len(s.slots.over)*32)
	}
	w.b = append(w.b, snapshotTag...)
	w.b = appendString(w.b, s.id)
	w.b = s.appendHeader(w.b)
	w.b = binary.AppendVarint(w.b, w.floor)
	w.start = len(w.b)
	if s.slots.parent == nil && s.slots.base != nil {
		w.addMerged(&s.slots)
	} else {
		s.slots.walk(w.add)
	}
	return binary.LittleEndian.AppendUint32(w.b, crc32.Checksum(w.b, castagnoli)), w
}

// appendHeader appends what a snapshot and a delta both hold of the
// member besides its slots: version, status, capacity and slot count.
func (s *Staff) appendHeader(b []byte) []byte {
	b = binary.AppendVarint(b, s.version)
	var flags byte
	if s.joined {
		flags |= 1
	}
	if s.departed {
		flags |= 2
	}
	if s.erased {
		flags |= 4
	}
	b = append(b, flags)
	b = appendTime(b, s.departedAt)
	b = binary.AppendVarint(b, int64(s.capacity))
	return binary.AppendUvarint(b, uint64(s.slots.len()))
}

// header is appendHeader's content, read back.
type header struct {
	version                  int64
	joined, departed, erased bool
	departedAt               time.Time
	capacity                 int
	slots                    uint64
}

// readHeader reads appendHeader's output, refusing what it never writes.
func (s *Staff) readHeader(d *decoder) (header, error) {
	var h header
	h.version = d.varint()
	flags := d.byte()
	h.joined, h.departed, h.erased = flags&1 != 0, flags&2 != 0, flags&4 != 0
	h.departedAt = d.time()
	capacity := d.varint()
	h.slots = d.uvarint()
	switch {
	case d.err != nil:
		return header{}, fmt.Errorf("%w: %v", ErrBadSnapshot, d.err)
	case capacity < 0 || flags&^7 != 0:
		return header{}, fmt.Errorf("%w: invalid state", ErrBadSnapshot)
	}
	h.capacity = int(capacity)
	return h, nil
}

// castagnoli is the checksum that ends every snapshot (CRC-32C of every
// byte before it, little-endian): the checks of FromSnapshot see a
// snapshot's shape, the checksum its content — a customer id or a time
// changed in storage still has the shape of one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FromSnapshot rebuilds a member from MarshalSnapshot's output taken at
// stream version version. Anything else — another format version, corrupt
// or truncated data, another member's or another version's snapshot — is
// an error wrapping ErrBadSnapshot; the aggregate is then rebuilt from its
// stream. Every byte is checked here, in one pass that allocates nothing
// per slot, so that a member restored decides exactly as the encoded one;
// the slots are then searched where they lie in data, which the member
// keeps: the caller must not change data afterwards.
func FromSnapshot(id string, version int64, data []byte) (*Staff, error) {
	s, err := New(id)
	if err != nil {
		return nil, err
	}
	b, err := checkedBody(data, snapshotTag, "")
	if err != nil {
		return nil, err
	}
	// The slots are read where they lie in data.
	d := decoder{b: b}
	gotID := d.string()
	h, err := s.readHeader(&d)
	if err != nil {
		return nil, err
	}
	s.version, s.joined, s.departed, s.erased, s.departedAt, s.capacity = h.version, h.joined, h.departed, h.erased, h.departedAt, h.capacity
	floor := d.varint()
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, d.err)
	}
	switch {
	case gotID != id:
		return nil, fmt.Errorf("%w: snapshot of member %q", ErrBadSnapshot, gotID)
	case s.version != version || version < 0:
		return nil, fmt.Errorf("%w: snapshot at version %d, stored as %d", ErrBadSnapshot, s.version, version)
	}
	s.base = &snapBase{version: version, sum: binary.LittleEndian.Uint32(data[len(data)-4:])}
	base, err := parseSlots(d.b, h.slots, floor)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if base.n > 0 {
		s.slots = slotSet{base: base, n: base.n}
	}
	return s, nil
}

func appendString[S ~string | ~[]byte](b []byte, s S) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime stores t as Unix microseconds (what every log stores); the
// zero time as 0 with a flag.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.AppendVarint(b, t.UnixMicro())
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated %s", what)
	}
	d.b = nil
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.fail("data")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	b := d.bytes(1)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("string")
	}
	return string(d.bytes(int(n)))
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		return time.UnixMicro(d.varint()).UTC()
	}
	if d.err == nil {
		d.err = errors.New("bad time")
	}
	return time.Time{}
}

// checkedBody returns what lies between data's tag and its CRC-32C (the
// encoding of snapshots and deltas), capped so that nothing appends over
// the checksum, or ErrBadSnapshot when data has another tag or its
// checksum does not match; what names the encoding in the error ("" for
// a snapshot, "delta ").
func checkedBody(data []byte, tag, what string) ([]byte, error) {
	if len(data) < len(tag) || string(data[:len(tag)]) != tag {
		return nil, fmt.Errorf("%w: unknown %sformat", ErrBadSnapshot, what)
	}
	body := len(data) - 4
	if body < len(tag) || crc32.Checksum(data[:body], castagnoli) != binary.LittleEndian.Uint32(data[body:]) {
		return nil, fmt.Errorf("%w: %schecksum mismatch", ErrBadSnapshot, what)
	}
	return data[len(tag):body:body], nil
}
