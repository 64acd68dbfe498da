package standin

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"time"
)

// Events and change types of the callbacks the stand-in sends.
const (
	EventExternalContact = "change_external_contact"
	EventExternalChat    = "change_external_chat"
	EventExternalTag     = "change_external_tag"
)

// SourceDeleteByTransfer is del_external_contact's Source when a handover
// removed the customer from the old owner.
const SourceDeleteByTransfer = "DELETE_BY_TRANSFER"

// Fail reasons of transfer_fail.
const (
	FailCustomerRefused     = "customer_refused"
	FailCustomerLimitExceed = "customer_limit_exceed"
)

// Callback is one decrypted callback as WeCom would send it: the common
// header (ToUserName = corpid, FromUserName "sys", CreateTime, MsgType
// "event", Event, ChangeType) and the fields of its kind, in WeCom's order.
// A Callback is a value; its Fields must not be modified once it is shared.
type Callback struct {
	ToUserName string
	CreateTime time.Time
	Event      string
	ChangeType string
	Fields     []Field
}

// Field is one element after the header.
type Field struct {
	Name  string
	Value string
	// Items, for MemChangeList, are its <Item> elements.
	Items []string
	// Number: WeCom writes the value without CDATA.
	Number bool
	// Undocumented: sent only in the undocumented dialect (Dialect),
	// like State on del_follow_user.
	Undocumented bool
}

// Value is the value of the named field ("" when absent); for the header,
// use the struct fields.
func (cb Callback) Value(name string) string {
	for _, f := range cb.Fields {
		if f.Name == name && !f.Undocumented {
			return f.Value
		}
	}
	return ""
}

// Kind names the callback as payload.Event.Kind does: Event/ChangeType,
// plus /UpdateDetail for group updates.
func (cb Callback) Kind() string {
	k := cb.Event + "/" + cb.ChangeType
	if cb.Event == EventExternalChat && cb.ChangeType == "update" {
		k += "/" + cb.Value("UpdateDetail")
	}
	return k
}

// Dialect selects the undocumented variations real deliveries show. The
// zero Dialect is WeCom's documented form.
type Dialect struct {
	// NoCDATA writes every value as escaped text instead of CDATA.
	NoCDATA bool
	// OmitState leaves State out of add_external_contact and
	// add_half_external_contact.
	OmitState bool
	// StateOnDelFollow writes the relation's State into del_follow_user.
	StateOnDelFollow bool
	// HalfAsFull sends add_half_external_contact as add_external_contact
	// (a scan of an auto-accept code).
	HalfAsFull bool
}

// IsZero reports the documented form.
func (d Dialect) IsZero() bool { return d == Dialect{} }

// String lists the quirks, for reports: "documented" or e.g.
// "no-cdata+omit-state".
func (d Dialect) String() string {
	var q []string
	if d.NoCDATA {
		q = append(q, "no-cdata")
	}
	if d.OmitState {
		q = append(q, "omit-state")
	}
	if d.StateOnDelFollow {
		q = append(q, "state-on-del-follow")
	}
	if d.HalfAsFull {
		q = append(q, "half-as-full")
	}
	if len(q) == 0 {
		return "documented"
	}
	return strings.Join(q, "+")
}

// applicable is the subset of d that changes cb.
func (d Dialect) applicable(cb Callback) Dialect {
	isAdd := cb.Event == EventExternalContact && (cb.ChangeType == "add_external_contact" || cb.ChangeType == "add_half_external_contact")
	hasState := cb.Value("State") != ""
	var undocState bool
	for _, f := range cb.Fields {
		undocState = undocState || (f.Undocumented && f.Name == "State" && f.Value != "")
	}
	return Dialect{
		NoCDATA:          d.NoCDATA,
		OmitState:        d.OmitState && isAdd && hasState,
		StateOnDelFollow: d.StateOnDelFollow && undocState,
		HalfAsFull:       d.HalfAsFull && cb.Event == EventExternalContact && cb.ChangeType == "add_half_external_contact",
	}
}

// XML renders the decrypted payload in dialect d, in WeCom's layout: no
// declaration, no whitespace between elements, CDATA for text and bare
// numbers (CreateTime, JoinScene, QuitScene, MemChangeCnt).
func (cb Callback) XML(d Dialect) []byte {
	var b bytes.Buffer
	text := func(name, v string) {
		b.WriteString("<" + name + ">")
		if d.NoCDATA {
			_ = xml.EscapeText(&b, []byte(v))
		} else {
			b.WriteString("<![CDATA[")
			b.WriteString(strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>"))
			b.WriteString("]]>")
		}
		b.WriteString("</" + name + ">")
	}
	number := func(name, v string) { b.WriteString("<" + name + ">" + v + "</" + name + ">") }
	changeType := cb.ChangeType
	if d.HalfAsFull && cb.Event == EventExternalContact && changeType == "add_half_external_contact" {
		changeType = "add_external_contact"
	}
	b.WriteString("<xml>")
	text("ToUserName", cb.ToUserName)
	text("FromUserName", "sys")
	number("CreateTime", strconv.FormatInt(cb.CreateTime.Unix(), 10))
	text("MsgType", "event")
	text("Event", cb.Event)
	text("ChangeType", changeType)
	for _, f := range cb.Fields {
		switch {
		case f.Undocumented && !(d.StateOnDelFollow && f.Name == "State"):
		case f.Name == "State" && d.OmitState:
		case f.Name == "MemChangeList":
			b.WriteString("<MemChangeList>")
			for _, it := range f.Items {
				text("Item", it)
			}
			b.WriteString("</MemChangeList>")
		case f.Number:
			number(f.Name, f.Value)
		default:
			text(f.Name, f.Value)
		}
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// Field constructors, for the actions.

func str(name, v string) Field { return Field{Name: name, Value: v} }

func num(name string, v int) Field { return Field{Name: name, Value: strconv.Itoa(v), Number: true} }
