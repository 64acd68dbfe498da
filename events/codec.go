package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"

	"github.com/go-json-experiment/json/jsontext"
)

// Payload is the typed body of an event.
type Payload interface {
	// EventType is the stable dotted name, e.g. "staff.joined".
	EventType() string
}

// Personal is implemented by payloads that carry personal data. The PII
// struct is excluded from the payload's JSON (tag `json:"-"`) and encoded on
// its own.
type Personal interface {
	Payload
	// PersonalData returns a pointer to the payload's PII struct.
	PersonalData() any
	// DataSubject names whose key seals the personal data.
	DataSubject(corp string) string
}

// Sentinel errors of the codec.
var (
	// ErrUnknownType is returned for an event type the catalog does not know.
	ErrUnknownType = errors.New("events: unknown event type")
	// ErrUnknownVersion is returned for a schema version newer than the
	// catalog's or with no upcaster path.
	ErrUnknownVersion = errors.New("events: unknown schema version")
	// ErrMalformed is returned when stored bytes do not decode.
	ErrMalformed = errors.New("events: malformed event data")
)

// Upcaster turns the JSON data of one schema version into the next.
type Upcaster func(data []byte) ([]byte, error)

type entry struct {
	version   int
	newFn     func() Payload
	upcasters map[int]Upcaster // from version -> to version+1
}

var catalog = map[string]*entry{}

// register adds a payload type to the catalog at its current version.
func register(version int, newFn func() Payload) {
	t := newFn().EventType()
	if _, dup := catalog[t]; dup {
		panic("events: duplicate registration of " + t)
	}
	catalog[t] = &entry{version: version, newFn: newFn, upcasters: map[int]Upcaster{}}
}

// registerUpcaster adds the step from version `from` to from+1 of type t.
func registerUpcaster(t string, from int, u Upcaster) {
	e, ok := catalog[t]
	if !ok {
		panic("events: upcaster for unregistered type " + t)
	}
	e.upcasters[from] = u
}

// Types lists every event type in the catalog, sorted.
func Types() []string {
	out := make([]string, 0, len(catalog))
	for t := range catalog {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// CurrentVersion is the schema version new events of type t are written with.
func CurrentVersion(t string) (int, bool) {
	e, ok := catalog[t]
	if !ok {
		return 0, false
	}
	return e.version, true
}

// Zero returns a new zero payload of type t, for documentation and tests.
func Zero(t string) (Payload, error) {
	e, ok := catalog[t]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, t)
	}
	return e.newFn(), nil
}

// Encoded is a payload turned into stored bytes.
type Encoded struct {
	Type          string
	SchemaVersion int
	Data          []byte
	PII           []byte // nil when the payload has no personal data
	Subject       string
}

// Encode turns a payload into its stored form for a corp.
func Encode(corp string, p Payload) (Encoded, error) {
	if p == nil {
		return Encoded{}, fmt.Errorf("%w: nil payload", ErrUnknownType)
	}
	// Payloads are handled as pointers so that a value with personal data
	// still exposes its Personal methods (declared on pointer receivers).
	if rv := reflect.ValueOf(p); rv.Kind() != reflect.Pointer {
		ptr := reflect.New(rv.Type())
		ptr.Elem().Set(rv)
		p = ptr.Interface().(Payload)
	}
	t := p.EventType()
	e, ok := catalog[t]
	if !ok {
		return Encoded{}, fmt.Errorf("%w: %q", ErrUnknownType, t)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Encoded{}, fmt.Errorf("events: encode %s: %w", t, err)
	}
	enc := Encoded{Type: t, SchemaVersion: e.version, Data: data}
	if pp, ok := p.(Personal); ok {
		pii, err := json.Marshal(pp.PersonalData())
		if err != nil {
			return Encoded{}, fmt.Errorf("events: encode %s personal data: %w", t, err)
		}
		if !isEmptyObject(pii) {
			enc.PII = pii
			enc.Subject = pp.DataSubject(corp)
		}
	}
	return enc, nil
}

// Decode turns stored bytes of the given type and schema version into the
// current payload, upcasting old versions. The payload is always a pointer
// (*StaffJoined, ...). Unknown fields are rejected so a
// stored shape that drifted fails loudly. pii may be empty (no personal
// data, or erased).
func Decode(t string, version int, data, pii []byte) (Payload, error) {
	e, ok := catalog[t]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, t)
	}
	if version < 1 || version > e.version {
		return nil, fmt.Errorf("%w: %s v%d (current v%d)", ErrUnknownVersion, t, version, e.version)
	}
	for v := version; v < e.version; v++ {
		up, ok := e.upcasters[v]
		if !ok {
			return nil, fmt.Errorf("%w: %s has no upcaster from v%d", ErrUnknownVersion, t, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("%w: upcast %s v%d: %v", ErrMalformed, t, v, err)
		}
	}
	p := e.newFn()
	if err := strictUnmarshal(data, p); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %v", ErrMalformed, t, version, err)
	}
	if pp, ok := p.(Personal); ok && len(pii) > 0 {
		if err := strictUnmarshal(pii, pp.PersonalData()); err != nil {
			return nil, fmt.Errorf("%w: %s personal data: %v", ErrMalformed, t, err)
		}
	}
	return p, nil
}

// DecodeRecorded decodes a recorded event's payload.
func DecodeRecorded(r Recorded) (Payload, error) {
	return Decode(r.Type, r.SchemaVersion, r.Data, r.PII)
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

func isEmptyObject(b []byte) bool {
	// Token by token, as the map-decoding reference in the tests would
	// judge it (a top-level null is an empty object; a member whose value
	// is null, "" or [] is empty), without building the map.
	d := jsontext.NewDecoder(bytes.NewReader(b))
	tok, err := d.ReadToken()
	switch {
	case err != nil:
		return false
	case tok.Kind() == 'n':
		_, err := d.ReadToken()
		return err == io.EOF
	case tok.Kind() != '{':
		return false
	}
	for {
		name, err := d.ReadToken()
		if err != nil {
			return false
		}
		if name.Kind() == '}' {
			break
		}
		v, err := d.ReadToken()
		if err != nil {
			return false
		}
		switch v.Kind() {
		case 'n':
		case '"':
			if v.String() != "" {
				return false
			}
		case '[':
			if end, err := d.ReadToken(); err != nil || end.Kind() != ']' {
				return false
			}
		default:
			return false
		}
	}
	_, err = d.ReadToken()
	return err == io.EOF
}
