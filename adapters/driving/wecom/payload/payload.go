// Package payload reads the decrypted XML of a WeCom callback (documents
// 92130, 96361; the output of callback.Crypto.Open) into an Event, names its
// Kind and derives a content-based DedupKey for the inbox.
//
// Parsing is tolerant, because real deliveries differ from the
// documentation: values with or without CDATA, surrounding XML whitespace
// trimmed, element names matched case-insensitively (ChatId, ChatID), any
// field may be missing, ids stay strings even when they look numeric,
// integers that do not parse are kept raw and flagged, and elements it does
// not know are kept in Extra, in document order. A repeated known element
// keeps its first value; the later ones go to Extra. Both the self-built
// app dialect (ToUserName, Event, …) and the third-party suite dialect
// (SuiteId, AuthCorpId, InfoType, TimeStamp) are read.
//
// Parse refuses only what is not one well-formed <xml> document of at most
// MaxSize bytes: syntax errors, characters XML forbids (NUL and most C0
// controls), invalid UTF-8, a DOCTYPE or other directive (so no entity can
// be defined, let alone expanded). Validate then checks the text custody's
// commands will carry and lists every offending field in a
// *ValidationError. Errors never contain field values.
package payload

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sentinel errors of Parse.
var (
	// ErrMalformed: not one well-formed <xml> element (see the package doc).
	ErrMalformed = errors.New("payload: malformed xml")
	// ErrTooLarge: more than MaxSize bytes.
	ErrTooLarge = errors.New("payload: too large")
)

// MaxSize is the largest payload Parse reads. It matches the callback
// package's default body limit; a decrypted payload is always smaller than
// its envelope.
const MaxSize = 64 << 10

// Event is one decrypted callback. String fields hold the trimmed text of
// the element of that name, "" when absent or empty.
type Event struct {
	ToUserName   string // the corpid (self-built apps)
	FromUserName string // "sys" for customer-contact events
	CreateTime   Int    // unix seconds
	MsgType      string // "event"
	Event        string // change_external_contact, change_external_chat, change_external_tag, …
	ChangeType   string

	UserID         string
	ExternalUserID string
	State          string // channel code of a 「联系我」 QR code or link
	WelcomeCode    string
	Source         string // DELETE_BY_TRANSFER on deletes by handover
	FailReason     string // customer_refused, customer_limit_exceed

	ChatID        string // element ChatId
	UpdateDetail  string
	JoinScene     Int
	QuitScene     Int
	MemChangeCnt  Int
	MemChangeList []string // the <Item> elements, in order
	LastMemVer    string
	CurMemVer     string

	ID         string // element Id: a tag or tag group id
	TagType    string // tag, tag_group
	StrategyID string // element StrategyId

	// Third-party suite dialect.
	SuiteID    string // element SuiteId
	AuthCorpID string // element AuthCorpId
	InfoType   string
	TimeStamp  Int

	// Extra holds every element Parse does not know (and repeats of ones
	// it does), in document order, with the trimmed text of the element
	// and its descendants.
	Extra []Field
}

// Field is an element kept verbatim in Event.Extra.
type Field struct {
	Name  string
	Value string
}

// Int is a leniently parsed integer element.
type Int struct {
	// Raw is the trimmed text as delivered; "" when absent or empty.
	Raw string
	// Value is the parsed value when Valid, else 0.
	Value int64
	// Valid reports that Raw is a decimal int64.
	Valid bool
}

// Set reports whether the element was present and non-empty.
func (i Int) Set() bool { return i.Raw != "" }

func parseInt(raw string) Int {
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return Int{Raw: raw}
	}
	return Int{Raw: raw, Value: v, Valid: true}
}

// field describes one known element: exactly one of str and num is set.
type field struct {
	name string // canonical spelling, used in errors and Extra
	str  func(*Event) *string
	num  func(*Event) *Int
}

// fields lists the known elements in canonical order; DedupKey and Validate
// walk them in this order.
var fields = []field{
	{name: "ToUserName", str: func(e *Event) *string { return &e.ToUserName }},
	{name: "FromUserName", str: func(e *Event) *string { return &e.FromUserName }},
	{name: "CreateTime", num: func(e *Event) *Int { return &e.CreateTime }},
	{name: "MsgType", str: func(e *Event) *string { return &e.MsgType }},
	{name: "Event", str: func(e *Event) *string { return &e.Event }},
	{name: "ChangeType", str: func(e *Event) *string { return &e.ChangeType }},
	{name: "UserID", str: func(e *Event) *string { return &e.UserID }},
	{name: "ExternalUserID", str: func(e *Event) *string { return &e.ExternalUserID }},
	{name: "State", str: func(e *Event) *string { return &e.State }},
	{name: "WelcomeCode", str: func(e *Event) *string { return &e.WelcomeCode }},
	{name: "Source", str: func(e *Event) *string { return &e.Source }},
	{name: "FailReason", str: func(e *Event) *string { return &e.FailReason }},
	{name: "ChatId", str: func(e *Event) *string { return &e.ChatID }},
	{name: "UpdateDetail", str: func(e *Event) *string { return &e.UpdateDetail }},
	{name: "JoinScene", num: func(e *Event) *Int { return &e.JoinScene }},
	{name: "QuitScene", num: func(e *Event) *Int { return &e.QuitScene }},
	{name: "MemChangeCnt", num: func(e *Event) *Int { return &e.MemChangeCnt }},
	{name: "LastMemVer", str: func(e *Event) *string { return &e.LastMemVer }},
	{name: "CurMemVer", str: func(e *Event) *string { return &e.CurMemVer }},
	{name: "Id", str: func(e *Event) *string { return &e.ID }},
	{name: "TagType", str: func(e *Event) *string { return &e.TagType }},
	{name: "StrategyId", str: func(e *Event) *string { return &e.StrategyID }},
	{name: "SuiteId", str: func(e *Event) *string { return &e.SuiteID }},
	{name: "AuthCorpId", str: func(e *Event) *string { return &e.AuthCorpID }},
	{name: "InfoType", str: func(e *Event) *string { return &e.InfoType }},
	{name: "TimeStamp", num: func(e *Event) *Int { return &e.TimeStamp }},
}

const memChangeList = "MemChangeList"

// byLowerName finds a known element by its case-folded name.
var byLowerName = func() map[string]int {
	m := make(map[string]int, len(fields))
	for i, f := range fields {
		m[strings.ToLower(f.name)] = i
	}
	return m
}()

// Parse reads one decrypted callback payload. See the package doc for what
// it accepts; on error the Event is zero.
func Parse(b []byte) (Event, error) {
	if len(b) > MaxSize {
		return Event{}, fmt.Errorf("payload of %d bytes: %w", len(b), ErrTooLarge)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var e Event
	var done bool
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Event{}, syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return Event{}, fmt.Errorf("payload: directive: %w", ErrMalformed)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return Event{}, fmt.Errorf("payload: text outside the root: %w", ErrMalformed)
			}
		case xml.StartElement:
			if done {
				return Event{}, fmt.Errorf("payload: second root: %w", ErrMalformed)
			}
			if t.Name.Local != "xml" {
				return Event{}, fmt.Errorf("payload: root is not xml: %w", ErrMalformed)
			}
			if err := e.readRoot(dec); err != nil {
				return Event{}, err
			}
			done = true
		}
	}
	if !done {
		return Event{}, fmt.Errorf("payload: no root: %w", ErrMalformed)
	}
	return e, nil
}

// syntaxError keeps the line of an encoding/xml error but not its message,
// which can quote the input.
func syntaxError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("payload: syntax error on line %d: %w", se.Line, ErrMalformed)
	}
	return fmt.Errorf("payload: %w", ErrMalformed)
}

// readRoot reads the children of <xml> up to its end element.
func (e *Event) readRoot(dec *xml.Decoder) error {
	seen := make([]bool, len(fields))
	var seenMembers bool
	for {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return fmt.Errorf("payload: directive: %w", ErrMalformed)
		case xml.EndElement:
			return nil
		case xml.StartElement:
			name := t.Name.Local
			if strings.EqualFold(name, memChangeList) && !seenMembers {
				seenMembers = true
				if err := e.readMembers(dec); err != nil {
					return err
				}
				continue
			}
			text, err := readText(dec)
			if err != nil {
				return err
			}
			i, known := byLowerName[strings.ToLower(name)]
			if !known || seen[i] {
				e.Extra = append(e.Extra, Field{Name: name, Value: text})
				continue
			}
			seen[i] = true
			if f := fields[i]; f.str != nil {
				*f.str(e) = text
			} else {
				*f.num(e) = parseInt(text)
			}
		}
	}
}

// readMembers reads the <Item> children of MemChangeList; other children
// go to Extra as "MemChangeList/<name>".
func (e *Event) readMembers(dec *xml.Decoder) error {
	e.MemChangeList = []string{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return fmt.Errorf("payload: directive: %w", ErrMalformed)
		case xml.EndElement:
			return nil
		case xml.StartElement:
			text, err := readText(dec)
			if err != nil {
				return err
			}
			if strings.EqualFold(t.Name.Local, "Item") {
				e.MemChangeList = append(e.MemChangeList, text)
			} else {
				e.Extra = append(e.Extra, Field{Name: memChangeList + "/" + t.Name.Local, Value: text})
			}
		}
	}
}

// readText reads to the end of the element just started and returns the
// trimmed text of it and its descendants.
func readText(dec *xml.Decoder) (string, error) {
	var sb strings.Builder
	depth := 1
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return "", syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.Directive:
			return "", fmt.Errorf("payload: directive: %w", ErrMalformed)
		}
	}
	return strings.Trim(sb.String(), xmlSpace), nil
}

// xmlSpace is XML's whitespace; other Unicode spaces (NBSP) are content.
const xmlSpace = " \t\r\n"
