package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// Record kinds of the JSONL format (docs/import.md).
const (
	KindStaff    = "staff"
	KindRelation = "relation"
	KindGroup    = "group"
	KindMember   = "group_member"
)

// MaxLineBytes bounds one line of an import file.
const MaxLineBytes = 1 << 20

// Record is one decoded, checked line: exactly one of the commands is set.
// Its Meta holds the business time only; the importer fills in the rest.
type Record struct {
	Line     int
	Staff    *commands.JoinStaff
	Relation *commands.StartRelation
	Group    *commands.CreateGroupChat
	Member   *commands.JoinGroupChat
}

// LineError is a refused line: its number (from 1) and why, never quoting
// the line's content (it may hold personal data).
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ErrBadRecord wraps every refusal of a line's content.
var ErrBadRecord = errors.New("bad record")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRecord, fmt.Sprintf(format, args...))
}

type kindLine struct {
	Kind string `json:"kind"`
}

type staffLine struct {
	Kind     string    `json:"kind"`
	At       time.Time `json:"at"`
	StaffID  string    `json:"staff_id"`
	Name     string    `json:"name"`
	Capacity int       `json:"capacity"`
}

type relationLine struct {
	Kind         string    `json:"kind"`
	At           time.Time `json:"at"`
	CustomerID   string    `json:"customer_id"`
	StaffID      string    `json:"staff_id"`
	Initiator    string    `json:"initiator"`
	AddWay       int       `json:"add_way"`
	State        string    `json:"state"`
	Tags         []string  `json:"tags"`
	CustomerName string    `json:"customer_name"`
	Remark       string    `json:"remark"`
	Description  string    `json:"description"`
	Phones       []string  `json:"phones"`
}

type groupLine struct {
	Kind    string    `json:"kind"`
	At      time.Time `json:"at"`
	ChatID  string    `json:"chat_id"`
	OwnerID string    `json:"owner_id"`
	Name    string    `json:"name"`
}

type memberLine struct {
	Kind       string    `json:"kind"`
	At         time.Time `json:"at"`
	ChatID     string    `json:"chat_id"`
	MemberID   string    `json:"member_id"`
	MemberType string    `json:"member_type"`
	JoinScene  string    `json:"join_scene"`
	InviterID  string    `json:"inviter_id"`
	Nickname   string    `json:"nickname"`
}

var strict = json.RejectUnknownMembers(true)

// Decode reads one line (without its newline) strictly: one JSON object,
// exact field names, no unknown or repeated field, valid UTF-8, the right
// types, a known kind, the required fields, valid ids, and the field rules
// of the command the kind stands for (commands.Check*), with business time
// "at" within [commands.MinOccurredAt, now+commands.MaxClockSkew]. Errors
// name the field, never its value.
func Decode(line []byte, lineNo int, corp string, now time.Time) (Record, error) {
	rec, err := decode(line, corp, now)
	if err != nil {
		return Record{}, &LineError{Line: lineNo, Err: err}
	}
	rec.Line = lineNo
	return rec, nil
}

// decode decodes a line whose kind comes first (as the sample and most
// writers put it) in one pass; any other line, and a line that fails that
// pass, is decoded by decodeFull, so the result and the error are always
// decodeFull's (FuzzDecode holds them equal).
func decode(line []byte, corp string, now time.Time) (Record, error) {
	if k := leadingKind(line); k != "" && len(line) <= MaxLineBytes {
		if rec, err := decodeKind(line, k, corp, now); err == nil {
			return rec, nil
		}
	}
	return decodeFull(line, corp, now)
}

// leadingKind is the kind of a line that starts with {"kind":"<kind>"
// for a known kind, else "".
func leadingKind(line []byte) string {
	const p = `{"kind":"`
	rest, ok := bytes.CutPrefix(line, []byte(p))
	if !ok {
		return ""
	}
	for _, k := range kinds {
		if len(rest) > len(k) && rest[len(k)] == '"' && string(rest[:len(k)]) == k {
			return k
		}
	}
	return ""
}

// decodeFull reads the line's kind, then decodes it as that kind.
func decodeFull(line []byte, corp string, now time.Time) (Record, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return Record{}, bad("empty line")
	}
	if len(line) > MaxLineBytes {
		return Record{}, bad("line over %d bytes", MaxLineBytes)
	}
	var k kindLine
	if err := json.Unmarshal(line, &k, json.RejectUnknownMembers(false)); err != nil {
		return Record{}, jsonError(err)
	}
	return decodeKind(line, k.Kind, corp, now)
}

// decodeKind decodes a line of the given kind strictly.
func decodeKind(line []byte, kind, corp string, now time.Time) (Record, error) {
	meta := func(at time.Time) (commands.Meta, error) {
		if at.IsZero() {
			return commands.Meta{}, bad("at: required (RFC 3339 business time)")
		}
		m := commands.Meta{CorpID: corp, OccurredAt: at}
		if err := commands.CheckMeta(m, now); err != nil {
			return commands.Meta{}, fieldError(err)
		}
		return m, nil
	}
	switch kind {
	case KindStaff:
		var l staffLine
		if err := json.Unmarshal(line, &l, strict); err != nil {
			return Record{}, jsonError(err)
		}
		m, err := meta(l.At)
		if err != nil {
			return Record{}, err
		}
		cmd := commands.JoinStaff{Meta: m, StaffID: l.StaffID, Capacity: l.Capacity, Name: l.Name}
		if err := firstErr(checkID("staff_id", l.StaffID), fieldError(commands.CheckJoinStaff(cmd))); err != nil {
			return Record{}, err
		}
		return Record{Staff: &cmd}, nil
	case KindRelation:
		var l relationLine
		if err := json.Unmarshal(line, &l, strict); err != nil {
			return Record{}, jsonError(err)
		}
		m, err := meta(l.At)
		if err != nil {
			return Record{}, err
		}
		cmd := commands.StartRelation{Meta: m, CustomerID: l.CustomerID, StaffID: l.StaffID, Initiator: l.Initiator,
			AddWay: l.AddWay, State: l.State, Tags: l.Tags, CustomerName: l.CustomerName, Remark: l.Remark,
			Description: l.Description, Phones: l.Phones}
		if err := firstErr(checkID("customer_id", l.CustomerID), checkID("staff_id", l.StaffID),
			oneOf("initiator", l.Initiator, events.InitiatorStaff, events.InitiatorCustomer),
			fieldError(commands.CheckStartRelation(cmd))); err != nil {
			return Record{}, err
		}
		return Record{Relation: &cmd}, nil
	case KindGroup:
		var l groupLine
		if err := json.Unmarshal(line, &l, strict); err != nil {
			return Record{}, jsonError(err)
		}
		m, err := meta(l.At)
		if err != nil {
			return Record{}, err
		}
		cmd := commands.CreateGroupChat{Meta: m, ChatID: l.ChatID, OwnerID: l.OwnerID, Name: l.Name}
		if err := firstErr(checkID("chat_id", l.ChatID), checkID("owner_id", l.OwnerID),
			fieldError(commands.CheckCreateGroupChat(cmd))); err != nil {
			return Record{}, err
		}
		return Record{Group: &cmd}, nil
	case KindMember:
		var l memberLine
		if err := json.Unmarshal(line, &l, strict); err != nil {
			return Record{}, jsonError(err)
		}
		m, err := meta(l.At)
		if err != nil {
			return Record{}, err
		}
		cmd := commands.JoinGroupChat{Meta: m, ChatID: l.ChatID, MemberID: l.MemberID, MemberType: l.MemberType,
			JoinScene: l.JoinScene, InviterID: l.InviterID, Nickname: l.Nickname}
		inviter := error(nil)
		if l.InviterID != "" {
			inviter = checkID("inviter_id", l.InviterID)
		}
		if err := firstErr(checkID("chat_id", l.ChatID), checkID("member_id", l.MemberID), inviter,
			oneOf("member_type", l.MemberType, events.MemberStaff, events.MemberCustomer),
			oneOf("join_scene", l.JoinScene, events.JoinInvited, events.JoinLink, events.JoinQRCode),
			fieldError(commands.CheckJoinGroupChat(cmd))); err != nil {
			return Record{}, err
		}
		return Record{Member: &cmd}, nil
	case "":
		return Record{}, bad("kind: required, one of %s", strings.Join(kinds, ", "))
	}
	return Record{}, bad("kind: unknown, want one of %s", strings.Join(kinds, ", "))
}

var kinds = []string{KindStaff, KindRelation, KindGroup, KindMember}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fieldError turns a command's *FieldError into a record error.
func fieldError(err error) error {
	if err == nil {
		return nil
	}
	var fe *commands.FieldError
	if errors.As(err, &fe) {
		return bad("%s: %s", fe.Field, fe.Problem)
	}
	return fmt.Errorf("%w: %v", ErrBadRecord, err)
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	if v == "" {
		return bad("%s: required, one of %s", field, strings.Join(allowed, ", "))
	}
	return bad("%s: must be one of %s", field, strings.Join(allowed, ", "))
}

// checkID applies the id rule of the HTTP API: 1-128 characters of
// letters, digits, '_', '.', '@' or '-' (WeCom's userid, external_userid
// and chat_id shapes).
func checkID(field, s string) error {
	if s == "" {
		return bad("%s: required", field)
	}
	if !validChars(s, 128, "_.@-") {
		return bad("%s: must be 1-128 characters of letters, digits, '_', '.', '@' or '-'", field)
	}
	return nil
}

// ValidCorpID reports whether s can name a corp: 1-64 of [A-Za-z0-9_], as
// the HTTP API requires.
func ValidCorpID(s string) bool { return validChars(s, 64, "_") }

func validChars(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// jsonError describes a decoding failure without quoting the input: the
// field (as a JSON pointer of plain names) and the kind of problem.
func jsonError(err error) error {
	var se *jsontext.SyntacticError
	var me *json.SemanticError
	switch {
	case errors.As(err, &se):
		switch {
		case errors.Is(err, jsontext.ErrDuplicateName):
			return bad("duplicate field %s", pointerName(se.JSONPointer))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return bad("truncated JSON")
		}
		return bad("malformed JSON at byte %d (one JSON object per line, valid UTF-8)", se.ByteOffset)
	case errors.As(err, &me):
		field := pointerName(me.JSONPointer)
		switch {
		case errors.Is(err, json.ErrUnknownName):
			return bad("unknown field %s (names are case-sensitive)", field)
		case me.GoType == timeType:
			return bad("%s: times must be RFC 3339, e.g. 2026-01-02T15:04:05Z", field)
		case me.JSONPointer != "" && me.GoType != nil:
			return bad("%s: wrong type, want %s", field, wireType(me.GoType.Kind().String()))
		}
		return bad("a line must be one JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return bad("truncated JSON")
	}
	return bad("invalid JSON")
}

var timeType = reflect.TypeFor[time.Time]()

func wireType(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "an integer"
	case "slice":
		return "a list of strings"
	case "string":
		return "a string"
	}
	return kind
}

// pointerName renders a JSON pointer as a field name when it is made of
// short plain names and indexes, else "a field": odd input is not echoed.
func pointerName(p jsontext.Pointer) string {
	var parts []string
	for tok := range p.Tokens() {
		if len(tok) > 64 || !validChars(tok, 64, "_") {
			return "a field"
		}
		parts = append(parts, tok)
	}
	if len(parts) == 0 {
		return "a field"
	}
	return strings.Join(parts, "/")
}
