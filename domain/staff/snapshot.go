package staff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// snapshotTag opens every encoded snapshot: the format and its version. A
// change of the layout below is a new tag; data with another tag is not
// decoded (the caller rebuilds the aggregate from its stream).
const snapshotTag = "custody.staff.v1\x00"

// ErrBadSnapshot: MarshalSnapshot's output was expected, something else was
// given (another format version, truncated or corrupt data, another member).
var ErrBadSnapshot = errors.New("staff: bad snapshot")

// MarshalSnapshot encodes the aggregate's whole state as of Version, for
// FromSnapshot. It holds no personal data: the member's name is never part
// of the aggregate, slots name customers by id only.
func (s *Staff) MarshalSnapshot() []byte {
	held := s.slots.sorted()
	b := make([]byte, 0, len(snapshotTag)+64+len(held)*40)
	b = append(b, snapshotTag...)
	b = appendString(b, s.id)
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
	b = binary.AppendUvarint(b, uint64(len(held)))
	for _, sl := range held { // sorted by customer: FromSnapshot searches them in place
		b = appendString(b, sl.customer)
		b = appendString(b, sl.reason)
		b = appendString(b, sl.handoverID)
		b = appendTime(b, sl.reservedAt)
	}
	return b
}

// FromSnapshot rebuilds a member from MarshalSnapshot's output taken at
// stream version version. Anything else — another format version, corrupt
// or truncated data, another member's or another version's snapshot — is
// an error wrapping ErrBadSnapshot; the aggregate is then rebuilt from its
// stream.
func FromSnapshot(id string, version int64, data []byte) (*Staff, error) {
	s, err := New(id)
	if err != nil {
		return nil, err
	}
	// One string for the whole snapshot: the ids in the slots are slices
	// of it, not an allocation each.
	d := decoder{b: string(data)}
	if tag := d.bytes(len(snapshotTag)); tag != snapshotTag {
		return nil, fmt.Errorf("%w: unknown format", ErrBadSnapshot)
	}
	gotID := d.string()
	s.version = d.varint()
	flags := d.byte()
	s.joined, s.departed, s.erased = flags&1 != 0, flags&2 != 0, flags&4 != 0
	s.departedAt = d.time()
	s.capacity = int(d.varint())
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) { // every slot takes several bytes
		d.err = errors.New("slot count beyond the data")
	}
	var base []baseSlot
	if d.err == nil {
		base = make([]baseSlot, 0, int(n))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		c := d.string()
		if len(base) > 0 && base[len(base)-1].customer >= c && d.err == nil {
			d.err = errors.New("slots out of order")
		}
		base = append(base, baseSlot{customer: c, slot: slot{reason: d.string(), handoverID: d.string(), reservedAt: d.time()}})
	}
	s.slots = slotSet{base: base, n: len(base)}
	switch {
	case d.err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, d.err)
	case len(d.b) != 0:
		return nil, fmt.Errorf("%w: %d bytes after the end", ErrBadSnapshot, len(d.b))
	case gotID != id:
		return nil, fmt.Errorf("%w: snapshot of member %q", ErrBadSnapshot, gotID)
	case s.version != version || version < 0:
		return nil, fmt.Errorf("%w: snapshot at version %d, stored as %d", ErrBadSnapshot, s.version, version)
	case s.capacity < 0 || flags&^7 != 0:
		return nil, fmt.Errorf("%w: invalid state", ErrBadSnapshot)
	}
	return s, nil
}

func appendString(b []byte, s string) []byte {
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
	b   string
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated %s", what)
	}
	d.b = ""
}

func (d *decoder) bytes(n int) string {
	if d.err != nil || n > len(d.b) {
		d.fail("data")
		return ""
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	b := d.bytes(1)
	if b == "" {
		return 0
	}
	return b[0]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := uvarint(d.b)
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
	v, n := varint(d.b)
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
	return d.bytes(int(n))
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

// uvarint is binary.Uvarint on a string.
func uvarint(b string) (uint64, int) {
	var x uint64
	var s uint
	for i := 0; i < len(b) && i < binary.MaxVarintLen64; i++ {
		c := b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}

// varint is binary.Varint on a string.
func varint(b string) (int64, int) {
	ux, n := uvarint(b)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}
