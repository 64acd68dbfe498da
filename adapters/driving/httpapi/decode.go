package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events/eventlog"
)

// DefaultMaxBodyBytes is the default limit of a request body.
const DefaultMaxBodyBytes = 1 << 20

// validCorpID reports whether s can name a corp: 1-64 of [A-Za-z0-9_].
// Corp ids appear inside stream names between dashes
// ("customer-<corp>-<id>"), so they may not contain a dash themselves.
func validCorpID(s string) bool { return validChars(s, 64, "_") }

// validID reports whether s can name a staff member, customer, group chat or
// handover: 1-128 of [A-Za-z0-9_.@-], WeCom's userid / external_userid /
// chat_id shapes.
func validID(s string) bool { return validChars(s, 128, "_.@-") }

// validChars reports whether s has 1 to max bytes, each an ASCII letter or
// digit or one of extra. (A loop, not a regexp: it runs on every request.)
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

// checkID returns an invalid_id error naming field when s is not a valid id.
func checkID(field, s string) error {
	if !validID(s) {
		return newError(http.StatusBadRequest, CodeInvalidID,
			"%s must be 1-128 characters of letters, digits, '_', '.', '@' or '-'", field)
	}
	return nil
}

// readBody reads at most limit bytes of r's body; over the limit it returns
// a body_too_large error. The raw bytes are returned for hashing
// (idempotency) and for decodeStrict.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body over %d bytes", limit)
		}
		return nil, newError(http.StatusBadRequest, CodeBadRequest, "reading request body failed")
	}
	return b, nil
}

// checkContentType requires a JSON media type (application/json or
// anything+json, charset utf-8 if one is named) for a request that has a
// body; anything else, a missing Content-Type included, is 415. A request
// without a body needs none.
func checkContentType(r *http.Request, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	refuse := newError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
		"a request body needs Content-Type: application/json")
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return refuse
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return refuse
	}
	if mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json") {
		return nil
	}
	return refuse
}

// decodeOptions make the decoder strict beyond its defaults (which already
// match field names exactly, refuse duplicate names and refuse invalid
// UTF-8 and lone surrogates): unknown fields are errors.
var decodeOptions = json.RejectUnknownMembers(true)

// decodeStrict decodes exactly one JSON object from b into v (a pointer to
// a request struct) and checks it:
//
//   - syntax: one object, nothing after it, valid UTF-8, no lone surrogate
//     escapes, no member named twice;
//   - names: exactly as documented (case matters), unknown ones refused;
//   - required fields (fieldRequired, the rule the OpenAPI document
//     states) present, where an explicit null counts as missing, and no
//     null inside a list;
//   - every text field (strings and lists of strings) follows the commands'
//     text rule (eventlog.TextProblem), and no time is before
//     commands.MinOccurredAt (the zero time included).
//
// Failures are 400 (bad_request, unknown_field or invalid_argument, naming
// the field) and never quote the input. It never panics, whatever b holds
// (FuzzDecodeRequests).
func decodeStrict(b []byte, v any) error {
	present, err := scanObject(b)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v, decodeOptions); err != nil {
		return jsonError(err)
	}
	return checkFields(reflect.ValueOf(v).Elem(), present)
}

// scanObject reads b as one JSON object and returns the names of its members
// whose value is not null.
func scanObject(b []byte) (map[string]bool, error) {
	notObject := newError(http.StatusBadRequest, CodeBadRequest, "request body must be a JSON object")
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, notObject
	}
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	if dec.PeekKind() != '{' {
		if _, err := dec.ReadValue(); err != nil {
			return nil, jsonError(err)
		}
		return nil, notObject
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, jsonError(err)
	}
	present := map[string]bool{}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, jsonError(err)
		}
		name := tok.String() // before the next read voids tok
		val, err := dec.ReadValue()
		if err != nil {
			return nil, jsonError(err)
		}
		if val.Kind() == 'n' {
			continue
		}
		present[name] = true
		if val.Kind() == '[' && holdsNull(val) {
			return nil, newError(http.StatusBadRequest, CodeInvalidArgument, "%s must not hold null", safeName(name))
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err != nil && !isTrailing(err) {
			return nil, jsonError(err)
		}
		return nil, newError(http.StatusBadRequest, CodeBadRequest, "trailing data after the JSON object")
	}
	return present, nil
}

// holdsNull reports whether a (syntactically valid) JSON value holds a
// null anywhere inside.
func holdsNull(v jsontext.Value) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return false
		}
		if tok.Kind() == 'n' {
			return true
		}
	}
}

// isTrailing reports whether a syntax error is "something after the value".
func isTrailing(err error) bool {
	return strings.Contains(err.Error(), "after top-level value")
}

// checkFields applies the required-field, text and time rules to a
// decoded request struct (embedded structs flattened).
func checkFields(v reflect.Value, present map[string]bool) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, required, ok := jsonField(f)
		if !ok {
			continue
		}
		fv := v.Field(i)
		if name == "" { // embedded struct
			if err := checkFields(fv, present); err != nil {
				return err
			}
			continue
		}
		if required && !present[name] {
			return newError(http.StatusBadRequest, CodeInvalidArgument, "%s is required", name)
		}
		switch x := fv.Interface().(type) {
		case string:
			if p := eventlog.TextProblem(x); p != "" {
				return newError(http.StatusBadRequest, CodeInvalidArgument, "%s %s", name, p)
			}
		case []string:
			for j, s := range x {
				if p := eventlog.TextProblem(s); p != "" {
					return newError(http.StatusBadRequest, CodeInvalidArgument, "%s[%d] %s", name, j, p)
				}
			}
		case *time.Time:
			if x != nil && x.Before(commands.MinOccurredAt) {
				return newError(http.StatusBadRequest, CodeInvalidArgument, "%s must not be before %s",
					name, commands.MinOccurredAt.Format(time.RFC3339))
			}
		}
	}
	return nil
}

// jsonField returns the JSON name of a request struct field and whether it
// is required: a field is required unless it is a pointer or tagged
// omitempty, and a required:"true" or required:"false" tag overrides that.
// The decoder enforces it and the OpenAPI document and docs/api.md state
// it, all through this one function. An embedded struct returns the name
// "" (its fields are the request's own); ok is false for ignored fields.
func jsonField(f reflect.StructField) (name string, required, ok bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if f.Anonymous && name == "" {
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			return "", false, true
		}
	}
	if !f.IsExported() {
		return "", false, false
	}
	if name == "" {
		name = f.Name
	}
	switch f.Tag.Get("required") {
	case "true":
		return name, true, true
	case "false":
		return name, false, true
	}
	optional := f.Type.Kind() == reflect.Pointer
	for _, o := range strings.Split(opts, ",") {
		optional = optional || o == "omitempty" || o == "omitzero"
	}
	return name, !optional, true
}

// jsonError classifies a decoding error without echoing the input (which
// may hold personal data): it names the byte offset and, when it is one of
// ours, the field.
func jsonError(err error) error {
	var se *jsontext.SyntacticError
	var me *json.SemanticError
	switch {
	case errors.As(err, &se):
		where := pointerName(se.JSONPointer)
		msg := err.Error()
		switch {
		case errors.Is(err, jsontext.ErrDuplicateName):
			return newError(http.StatusBadRequest, CodeBadRequest, "duplicate field %s", where)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return newError(http.StatusBadRequest, CodeBadRequest, "truncated JSON")
		case strings.Contains(msg, "invalid UTF-8"):
			return newError(http.StatusBadRequest, CodeInvalidArgument, "%s is not valid UTF-8 (byte %d)", where, se.ByteOffset)
		case strings.Contains(msg, "surrogate"):
			return newError(http.StatusBadRequest, CodeInvalidArgument, "%s holds a lone UTF-16 surrogate (byte %d)", where, se.ByteOffset)
		case strings.Contains(msg, "non-control character"):
			return newError(http.StatusBadRequest, CodeInvalidArgument, "%s holds a raw control character (byte %d)", where, se.ByteOffset)
		}
		return newError(http.StatusBadRequest, CodeBadRequest, "malformed JSON at byte %d", se.ByteOffset)
	case errors.As(err, &me):
		field := pointerName(me.JSONPointer)
		switch {
		case errors.Is(err, json.ErrUnknownName):
			if field == unsafeName {
				return newError(http.StatusBadRequest, CodeUnknownField, "unknown field (name not shown)")
			}
			return newError(http.StatusBadRequest, CodeUnknownField, "unknown field %s (names are case-sensitive)", field)
		case me.GoType == timeType || me.GoType == reflect.PointerTo(timeType):
			return newError(http.StatusBadRequest, CodeBadRequest, "%s: times must be RFC 3339, e.g. 2026-01-02T15:04:05Z", field)
		case me.GoType != nil && me.JSONPointer != "":
			return newError(http.StatusBadRequest, CodeBadRequest, "%s must be %s", field, wireType(me.GoType))
		}
		return newError(http.StatusBadRequest, CodeBadRequest, "request body must be a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newError(http.StatusBadRequest, CodeBadRequest, "truncated JSON")
	}
	return newError(http.StatusBadRequest, CodeBadRequest, "invalid JSON")
}

// unsafeName stands for a field name that is not echoed.
const unsafeName = "a field"

// pointerName renders a JSON pointer ("/phones/1") as a field name
// ("phones[1]") when it is made of short plain names and indexes, and as
// unsafeName otherwise, so that no odd input is echoed.
func pointerName(p jsontext.Pointer) string {
	if p == "" {
		return "the body"
	}
	var b strings.Builder
	for i, tok := range strings.Split(strings.TrimPrefix(string(p), "/"), "/") {
		switch {
		case isIndex(tok) && i > 0:
			b.WriteString("[" + tok + "]")
		case safeName(tok) == tok && i == 0:
			b.WriteString(tok)
		default:
			return unsafeName
		}
	}
	return b.String()
}

// safeName returns s when it looks like a field name (1-64 ASCII letters,
// digits and '_'), and unsafeName otherwise.
func safeName(s string) string {
	if len(s) == 0 || len(s) > 64 {
		return unsafeName
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return unsafeName
		}
	}
	return s
}

func isIndex(s string) bool {
	if len(s) == 0 || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// wireType names a Go type as the JSON it takes.
func wireType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Slice, reflect.Array:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(wireType(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct:
		return "an object"
	}
	return "another type"
}

// parseTime parses an optional RFC 3339 query parameter.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, newError(http.StatusBadRequest, CodeBadRequest, "%s must be an RFC 3339 time", field)
	}
	return t, nil
}

// parseLimit parses an optional page size in [1, max], default def.
func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 || n > max || fmt.Sprint(n) != s {
		return 0, newError(http.StatusBadRequest, CodeBadRequest, "limit must be an integer between 1 and %d", max)
	}
	return n, nil
}
