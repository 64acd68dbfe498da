package staff

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/custody/custody/events"
)

// deltaTag opens every encoded delta (MarshalDelta): the format and its
// version, as snapshotTag for snapshots.
const deltaTag = "custody.staff.d1\x00"

// snapBase names the snapshot a member was restored from (or compacted
// to): its version and checksum, which a delta on top of it repeats.
type snapBase struct {
	version int64
	sum     uint32
}

// MarshalDelta encodes what changed of the member since the snapshot it
// was restored from (FromSnapshot) or compacted to (Compact), for
// FromSnapshotDelta: the member's header as now, the slots taken or
// replaced since and the snapshot's slots released since. It costs a sort
// of those changes only, not a pass over the snapshot's slots: a caller
// that keeps a large member writes a delta often and the whole snapshot
// rarely. ok is false for a member that has no such snapshot (replayed
// from its stream, or a fork).
func (s *Staff) MarshalDelta() (data []byte, ok bool) {
	if s.base == nil || s.slots.parent != nil {
		return nil, false
	}
	over, removed := sortedKeys(s.slots.over), sortedKeys(s.slots.removed)
	b := make([]byte, 0, len(deltaTag)+64+len(over)*48+len(removed)*40)
	b = append(b, deltaTag...)
	b = appendString(b, s.id)
	b = binary.AppendVarint(b, s.base.version)
	b = binary.LittleEndian.AppendUint32(b, s.base.sum)
	b = s.appendHeader(b)
	b = binary.AppendUvarint(b, uint64(len(over)))
	for _, c := range over {
		sl := s.slots.over[c]
		b = appendString(b, c)
		b = appendTime(b, sl.reservedAt)
		if sl.reason == events.SlotForAdd && sl.handoverID == "" {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendString(b, sl.reason)
			b = appendString(b, sl.handoverID)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(removed)))
	for _, c := range removed {
		b = appendString(b, c)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), true
}

// FromSnapshotDelta rebuilds a member from MarshalSnapshot's output taken
// at stream version version and MarshalDelta's output taken at
// deltaVersion on top of that snapshot. Anything else — another format,
// corrupt or truncated data, a delta of another member or on another
// snapshot, changes that do not fit the snapshot (a release of a slot it
// does not hold, a count that does not add up) — is an error wrapping
// ErrBadSnapshot. Every byte is checked, as by FromSnapshot; the member
// keeps data (the caller must not change it) and the delta's changes in
// small maps, as if it had been restored from data and the events since
// replayed, and writes its next delta on top of the same snapshot.
func FromSnapshotDelta(id string, version int64, data []byte, deltaVersion int64, delta []byte) (*Staff, error) {
	s, err := FromSnapshot(id, version, data)
	if err != nil {
		return nil, err
	}
	b, err := checkedBody(delta, deltaTag, "delta ")
	if err != nil {
		return nil, err
	}
	d := decoder{b: b}
	gotID := d.string()
	baseVersion := d.varint()
	baseSum := d.bytes(4)
	h, err := s.readHeader(&d)
	if err != nil {
		return nil, err
	}
	switch {
	case gotID != id:
		return nil, fmt.Errorf("%w: delta of member %q", ErrBadSnapshot, gotID)
	case baseVersion != s.base.version || len(baseSum) != 4 || binary.LittleEndian.Uint32(baseSum) != s.base.sum:
		return nil, fmt.Errorf("%w: delta on another snapshot", ErrBadSnapshot)
	case h.version != deltaVersion || deltaVersion <= version:
		return nil, fmt.Errorf("%w: delta at version %d, stored as %d on %d", ErrBadSnapshot, h.version, deltaVersion, version)
	}
	// The changes: slots taken or replaced since, then the snapshot's
	// released since, each list strictly increasing; the count must add up.
	inBase := func(c string) bool { _, ok := s.slots.inBase(c); return ok }
	n := s.slots.n
	no := d.uvarint()
	if no > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: slot count beyond the data", ErrBadSnapshot)
	}
	over := make(map[string]slot, no)
	prev := ""
	for i := range no {
		c := d.string()
		sl := slot{reason: events.SlotForAdd, reservedAt: d.time()}
		switch d.byte() {
		case 0:
		case 1:
			sl.reason, sl.handoverID = d.string(), d.string()
			if sl.reason == events.SlotForAdd && sl.handoverID == "" {
				d.err = fmt.Errorf("a plain add marked other")
			}
		default:
			d.err = fmt.Errorf("bad slot kind")
		}
		if d.err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, d.err)
		}
		if i > 0 && c <= prev {
			return nil, fmt.Errorf("%w: delta slots out of order", ErrBadSnapshot)
		}
		prev = c
		if !inBase(c) {
			n++
		}
		over[c] = sl
	}
	nr := d.uvarint()
	if nr > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: release count beyond the data", ErrBadSnapshot)
	}
	removed := make(map[string]struct{}, nr)
	for i := range nr {
		c := d.string()
		if d.err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, d.err)
		}
		if i > 0 && c <= prev {
			return nil, fmt.Errorf("%w: delta releases out of order", ErrBadSnapshot)
		}
		prev = c
		if _, taken := over[c]; taken || !inBase(c) {
			return nil, fmt.Errorf("%w: delta releases a slot the snapshot does not hold", ErrBadSnapshot)
		}
		n--
		removed[c] = struct{}{}
	}
	switch {
	case d.err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, d.err)
	case len(d.b) != 0:
		return nil, fmt.Errorf("%w: bytes after the delta", ErrBadSnapshot)
	case uint64(n) != h.slots:
		return nil, fmt.Errorf("%w: delta counts %d slots, holds %d", ErrBadSnapshot, h.slots, n)
	}
	s.version, s.joined, s.departed, s.erased, s.departedAt, s.capacity = h.version, h.joined, h.departed, h.erased, h.departedAt, h.capacity
	if len(over) > 0 {
		s.slots.over = over
	}
	if len(removed) > 0 {
		s.slots.removed = removed
	}
	s.slots.n = n
	return s, nil
}
