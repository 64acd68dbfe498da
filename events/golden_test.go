package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden is the file format under testdata/: the stored form of one sample
// payload, exactly as Encode produces it.
type golden struct {
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	PII           json.RawMessage `json:"pii,omitempty"`
	Subject       string          `json:"subject,omitempty"`
}

const goldenCorp = "corp1"

func TestEveryTypeHasASample(t *testing.T) {
	s := samples()
	for _, typ := range Types() {
		if _, ok := s[typ]; !ok {
			t.Errorf("catalog type %s has no sample in samples_test.go (and so no golden file)", typ)
		}
	}
	if len(s) != len(Types()) {
		t.Errorf("%d samples for %d catalog types", len(s), len(Types()))
	}
}

// TestGolden pins every stored shape: a renamed field, a changed tag or a
// moved personal field changes the encoded bytes and fails here. Run with
// -update to accept an intended change (which also needs a new schema
// version and an upcaster).
func TestGolden(t *testing.T) {
	for typ, p := range samples() {
		t.Run(typ, func(t *testing.T) {
			enc, err := Encode(goldenCorp, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(golden{
				Type: enc.Type, SchemaVersion: enc.SchemaVersion, Data: enc.Data, PII: enc.PII, Subject: enc.Subject,
			}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", typ+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test ./events -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("stored shape of %s changed:\n got: %s\nwant: %s", typ, got, want)
			}

			// The golden bytes decode back to the sample.
			var g golden
			if err := json.Unmarshal(want, &g); err != nil {
				t.Fatal(err)
			}
			back, err := Decode(g.Type, g.SchemaVersion, g.Data, g.PII)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, p) {
				t.Fatalf("decoded golden = %#v, want %#v", back, p)
			}
		})
	}
}

// TestPersonalDataKeptApart checks that no personal value of a sample leaks
// into its data part.
func TestPersonalDataKeptApart(t *testing.T) {
	for typ, p := range samples() {
		pp, ok := p.(Personal)
		if !ok {
			continue
		}
		enc, err := Encode(goldenCorp, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc.PII) == 0 || enc.Subject == "" {
			t.Errorf("%s: populated personal data encoded as PII=%q subject=%q", typ, enc.PII, enc.Subject)
		}
		var fields map[string]any
		b, _ := json.Marshal(pp.PersonalData())
		_ = json.Unmarshal(b, &fields)
		for k, v := range fields {
			s, _ := json.Marshal(v)
			if bytes.Contains(enc.Data, bytes.Trim(s, `[]"`)) {
				t.Errorf("%s: personal field %s (%s) appears in data %s", typ, k, s, enc.Data)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for typ, p := range samples() {
		enc, err := Encode("c", p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(enc.Type, enc.SchemaVersion, enc.Data, enc.PII)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(back, p) {
			t.Errorf("%s: round trip = %#v, want %#v", typ, back, p)
		}
		if reflect.ValueOf(back).Kind() != reflect.Pointer {
			t.Errorf("%s: Decode returned %T, want a pointer", typ, back)
		}
	}
	// A value (not a pointer) payload encodes its personal part too.
	enc, err := Encode("c", StaffJoined{StaffID: "s", PII: StaffPII{Name: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(enc.PII) != `{"name":"n"}` || enc.Subject != "staff/c/s" {
		t.Fatalf("value payload: PII=%s subject=%q", enc.PII, enc.Subject)
	}
}

func TestEmptyPersonalDataIsNotStored(t *testing.T) {
	enc, err := Encode("c", &CustomerRelationStarted{CustomerID: "x", StaffID: "s", Initiator: InitiatorStaff, StartedBy: StartedByAdd})
	if err != nil {
		t.Fatal(err)
	}
	if enc.PII != nil || enc.Subject != "" {
		t.Fatalf("empty personal data stored: PII=%q subject=%q", enc.PII, enc.Subject)
	}
}

// TestConsentUpcast shows the v1→v2 upcast of consent.recorded: v1 stored a
// boolean `agreed`, v2 a three-valued state.
func TestConsentUpcast(t *testing.T) {
	for _, tc := range []struct {
		v1   string
		want string
	}{
		{`{"customer_id":"wmABC","purpose":"marketing","agreed":true,"changed_at":"2026-03-14T09:26:53Z"}`, ConsentAgree},
		{`{"customer_id":"wmABC","purpose":"marketing","agreed":false,"changed_at":"2026-03-14T09:26:53Z"}`, ConsentDisagree},
	} {
		p, err := Decode("consent.recorded", 1, []byte(tc.v1), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := &ConsentRecorded{CustomerID: "wmABC", Purpose: PurposeMarketing, State: tc.want, ChangedAt: sampleTime}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("upcast %s = %#v, want %#v", tc.v1, p, want)
		}
	}
	if v, _ := CurrentVersion("consent.recorded"); v != 2 {
		t.Fatalf("consent.recorded current version %d, want 2", v)
	}
	for _, bad := range []string{
		`{"customer_id":"wmABC","purpose":"marketing","changed_at":"2026-03-14T09:26:53Z"}`,                 // no agreed
		`{"customer_id":"wmABC","purpose":"marketing","state":"agree","changed_at":"2026-03-14T09:26:53Z"}`, // v2 shape labelled v1
	} {
		if _, err := Decode("consent.recorded", 1, []byte(bad), nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode v1 %s: err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		typ     string
		version int
		data    string
		pii     string
		want    error
	}{
		{"unknown type", "customer.teleported", 1, `{}`, "", ErrUnknownType},
		{"empty type", "", 1, `{}`, "", ErrUnknownType},
		{"future version", "staff.joined", 2, `{"staff_id":"s"}`, "", ErrUnknownVersion},
		{"version zero", "staff.joined", 0, `{"staff_id":"s"}`, "", ErrUnknownVersion},
		{"unknown field", "staff.joined", 1, `{"staff_id":"s","shoe_size":42}`, "", ErrMalformed},
		{"personal field in data", "staff.joined", 1, `{"staff_id":"s","name":"n"}`, "", ErrMalformed},
		{"wrong field type", "staff.capacity_changed", 1, `{"staff_id":"s","capacity":"many"}`, "", ErrMalformed},
		{"trailing data", "staff.departed", 1, `{"staff_id":"s"} {}`, "", ErrMalformed},
		{"not json", "staff.departed", 1, `staff`, "", ErrMalformed},
		{"unknown pii field", "staff.joined", 1, `{"staff_id":"s"}`, `{"name":"n","age":3}`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.typ, tc.version, []byte(tc.data), []byte(tc.pii))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Encode("c", nil); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("Encode(nil) = %v, want ErrUnknownType", err)
	}
}

// FuzzDecode feeds arbitrary stored bytes to Decode: it must never panic,
// must fail only with the codec's sentinels, and whatever it accepts must
// encode and decode again to the same payload.
func FuzzDecode(f *testing.F) {
	types := Types()
	for i, typ := range types {
		p := samples()[typ]
		enc, err := Encode("c", p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), uint8(enc.SchemaVersion), enc.Data, enc.PII)
	}
	f.Add(uint8(0), uint8(1), []byte(`{"staff_id":"s","x":1}`), []byte(nil))
	f.Add(uint8(0), uint8(9), []byte(`null`), []byte(`[]`))
	f.Add(uint8(200), uint8(1), []byte(`{}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, ti, version uint8, data, pii []byte) {
		typ := "no.such_type"
		if int(ti) < len(types) {
			typ = types[ti]
		}
		p, err := Decode(typ, int(version), data, pii)
		if err != nil {
			if !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrUnknownVersion) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		enc, err := Encode("c", p)
		if err != nil {
			t.Fatalf("decoded payload does not encode: %v", err)
		}
		again, err := Decode(enc.Type, enc.SchemaVersion, enc.Data, enc.PII)
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(again), normal(p)) {
			t.Fatalf("decode∘encode not stable:\n %#v\n %#v", again, p)
		}
	})
}

// normal re-encodes p so that values JSON cannot tell apart (nil vs empty
// slices, time zones of equal instants) compare equal.
func normal(p Payload) string {
	b, _ := json.Marshal(p)
	var pii []byte
	if pp, ok := p.(Personal); ok {
		pii, _ = json.Marshal(pp.PersonalData())
	}
	return string(b) + "|" + string(pii)
}

// TestHandoverRequestedUpcast: v1 stored the message in plain data; read
// back, it is LegacyMessage (marked as unsealed), never the sealed
// PII.Message, and Text returns it. v2 keeps the message out of data.
func TestHandoverRequestedUpcast(t *testing.T) {
	v1 := `{"handover_id":"h-1","customer_id":"wmABC","kind":"in_service","from_staff_id":"zhangsan","to_staff_id":"lisi","batch_id":"b-1","message":"您好，今后由李四为您服务","deadline":"2026-03-15T09:26:53Z"}`
	p, err := Decode("handover.requested", 1, []byte(v1), nil)
	if err != nil {
		t.Fatal(err)
	}
	hr := p.(*HandoverRequested)
	if hr.LegacyMessage != "您好，今后由李四为您服务" || hr.PII.Message != "" || hr.Text() != hr.LegacyMessage || hr.BatchID != "b-1" {
		t.Fatalf("upcast v1 = %#v", hr)
	}
	p, err = Decode("handover.requested", 1, []byte(`{"handover_id":"h-2","customer_id":"wmABC","kind":"resigned","from_staff_id":"a","to_staff_id":"b","deadline":"2026-03-15T09:26:53Z"}`), nil)
	if err != nil || p.(*HandoverRequested).Text() != "" {
		t.Fatalf("upcast v1 without a message = %#v, %v", p, err)
	}
	if v, _ := CurrentVersion("handover.requested"); v != 2 {
		t.Fatalf("handover.requested current version %d, want 2", v)
	}
	enc, err := Encode("acme", &HandoverRequested{HandoverID: "h", CustomerID: "wmABC", Kind: HandoverInService, FromStaffID: "a", ToStaffID: "b",
		PII: HandoverRequestPII{Message: "private words"}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc.Data, []byte("private words")) || !bytes.Contains(enc.PII, []byte("private words")) || enc.Subject != "customer/acme/wmABC" {
		t.Fatalf("v2 encoding: data %s, pii %s, subject %q", enc.Data, enc.PII, enc.Subject)
	}
}
