package payload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"strconv"
	"time"
)

// Kind names what happened: Event + "/" + ChangeType, with "/" +
// UpdateDetail for customer group updates, e.g.
// "change_external_contact/del_follow_user",
// "change_external_chat/update/add_member". The third-party dialect's
// InfoType stands in for a missing Event. Without a ChangeType the Kind is
// the event alone.
func (e Event) Kind() string {
	ev := e.Event
	if ev == "" {
		ev = e.InfoType
	}
	if e.ChangeType == "" {
		return ev
	}
	k := ev + "/" + e.ChangeType
	if ev == "change_external_chat" && e.ChangeType == "update" && e.UpdateDetail != "" {
		k += "/" + e.UpdateDetail
	}
	return k
}

// Corp is the corp the event belongs to: AuthCorpId for a third-party
// suite's callback, else ToUserName.
func (e Event) Corp() string {
	if e.AuthCorpID != "" {
		return e.AuthCorpID
	}
	return e.ToUserName
}

// Time is when WeCom says the change happened: CreateTime, or the
// third-party TimeStamp; false when neither is a valid integer.
func (e Event) Time() (time.Time, bool) {
	switch {
	case e.CreateTime.Valid:
		return time.Unix(e.CreateTime.Value, 0), true
	case e.TimeStamp.Valid:
		return time.Unix(e.TimeStamp.Value, 0), true
	}
	return time.Time{}, false
}

// dedupDomain separates this hash from any other SHA-256 use and versions
// the canonical form: change it whenever the form changes.
const dedupDomain = "custody/wecom/payload.DedupKey/v1"

// DedupKey identifies the event by its content, as 64 lowercase hex
// characters: SHA-256 over a canonical form of every parsed field — each
// known field in the fixed order of the field table (integers by their raw
// text), then MemChangeList (its length, then each item in order), then
// Extra sorted by name and value — each written as length-prefixed name and
// value, after a versioned domain label.
//
// WeCom's suggested FromUserName + CreateTime is useless here (FromUserName
// is always "sys"), and retries are re-encrypted with a new random prefix,
// nonce and timestamp, so the key depends on the decrypted payload only: a
// retry of the same callback gets the same key. Everything parsed is
// included, unknown elements too, so two events that differ in anything
// (another customer, another WelcomeCode, another second) get different
// keys; two identical payloads in the same second are one event for the
// inbox, which costs nothing because processing is idempotent anyway.
// CDATA, surrounding whitespace, the case of element names and the order
// of distinct elements do not affect the key; the order of Items does.
func (e Event) DedupKey() string {
	h := sha256.New()
	h.Write([]byte(dedupDomain))
	for i := range fields {
		f := fields[i]
		if f.str != nil {
			writeField(h, f.name, *f.str(&e))
		} else {
			writeField(h, f.name, f.num(&e).Raw)
		}
	}
	writeField(h, memChangeList, strconv.Itoa(len(e.MemChangeList)))
	for _, m := range e.MemChangeList {
		writeField(h, "Item", m)
	}
	extra := append([]Field(nil), e.Extra...)
	sort.Slice(extra, func(i, j int) bool {
		if extra[i].Name != extra[j].Name {
			return extra[i].Name < extra[j].Name
		}
		return extra[i].Value < extra[j].Value
	})
	writeField(h, "Extra", strconv.Itoa(len(extra)))
	for _, x := range extra {
		writeField(h, x.Name, x.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeField writes name and value each prefixed by its length, so no two
// different sequences of fields share an encoding.
func writeField(h hash.Hash, name, value string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(name)))])
	h.Write([]byte(name))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(value)))])
	h.Write([]byte(value))
}
