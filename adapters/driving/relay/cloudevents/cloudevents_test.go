package cloudevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/custody/custody/events"
	"github.com/google/uuid"
)

func sampleRecorded(t testing.TB) events.Recorded {
	t.Helper()
	ev, err := events.New(uuid.MustParse("0192f0c8-7a1e-7c3d-9a4b-5d6e7f809a1b"), events.Meta{
		CorpID:        "corp1",
		OccurredAt:    time.Date(2026, 11, 2, 8, 30, 0, 0, time.UTC),
		Actor:         "wecom",
		CorrelationID: "corr-1",
	}, &events.CustomerRelationStarted{
		CustomerID: "wmABC", StaffID: "zhangsan", Initiator: events.InitiatorCustomer,
		AddWay: 1, State: "poster-q4", StartedBy: events.StartedByAdd,
		PII: events.RelationPII{CustomerName: "Li Lei", Remark: "VIP", Phones: []string{"13800000000"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return events.Recorded{
		Event:         ev,
		Stream:        events.CustomerStream("corp1", "wmABC"),
		StreamVersion: 0,
		Position:      events.Position{Commit: 742, Prepare: 9},
		RecordedAt:    time.Date(2026, 11, 2, 8, 30, 1, 0, time.UTC),
	}
}

func TestRoundTripWithoutPII(t *testing.T) {
	r := sampleRecorded(t)
	b, err := Marshal(r, false)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("Li Lei")) || bytes.Contains(b, []byte("13800000000")) || bytes.Contains(b, []byte(`"pii"`)) {
		t.Fatalf("personal data published without include_pii: %s", b)
	}
	e, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != r.ID.String() || e.Source != "custody/corp1" || e.Subject != r.Stream ||
		e.Type != "customer.relation_started" || !e.Time.Equal(r.OccurredAt) || e.Position != "742/9" {
		t.Fatalf("attributes: %+v", e)
	}
	back, err := e.Recorded()
	if err != nil {
		t.Fatal(err)
	}
	if len(back.PII) != 0 {
		t.Fatalf("PII came back: %s", back.PII)
	}
	p, err := events.DecodeRecorded(back)
	if err != nil {
		t.Fatal(err)
	}
	got := p.(*events.CustomerRelationStarted)
	if got.CustomerID != "wmABC" || got.State != "poster-q4" || got.PII.CustomerName != "" {
		t.Fatalf("payload: %+v", got)
	}
	if back.Position != r.Position || back.StreamVersion != r.StreamVersion || back.CorpID != "corp1" {
		t.Fatalf("envelope: %+v", back)
	}
}

func TestRoundTripWithPII(t *testing.T) {
	r := sampleRecorded(t)
	b, err := Marshal(r, true)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	back, err := e.Recorded()
	if err != nil {
		t.Fatal(err)
	}
	p, err := events.DecodeRecorded(back)
	if err != nil {
		t.Fatal(err)
	}
	got := p.(*events.CustomerRelationStarted)
	if got.PII.CustomerName != "Li Lei" || got.PII.Remark != "VIP" || len(got.PII.Phones) != 1 {
		t.Fatalf("personal data lost: %+v", got.PII)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := Marshal(sampleRecorded(t), false)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string][]byte{
		"not json":      []byte("nope"),
		"trailing":      append(append([]byte{}, good...), []byte(" {}")...),
		"specversion":   mutate(func(m map[string]any) { m["specversion"] = "0.3" }),
		"id":            mutate(func(m map[string]any) { m["id"] = "x" }),
		"source":        mutate(func(m map[string]any) { m["source"] = "other/corp1" }),
		"empty corp":    mutate(func(m map[string]any) { m["source"] = "custody/" }),
		"type":          mutate(func(m map[string]any) { delete(m, "type") }),
		"subject":       mutate(func(m map[string]any) { m["subject"] = "" }),
		"schemaversion": mutate(func(m map[string]any) { m["schemaversion"] = 0 }),
		"position":      mutate(func(m map[string]any) { m["position"] = "x" }),
		"data not obj":  mutate(func(m map[string]any) { m["data"] = []int{1} }),
		"data missing":  mutate(func(m map[string]any) { delete(m, "data") }),
	}
	for name, b := range cases {
		if _, err := Unmarshal(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzUnmarshal feeds outside bytes (anything a broker hands a consumer) to
// Unmarshal: it must never panic, and an accepted event must survive
// Recorded and re-encoding.
func FuzzUnmarshal(f *testing.F) {
	r := sampleRecorded(f)
	for _, pii := range []bool{false, true} {
		b, err := Marshal(r, pii)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"specversion":"1.0","id":"0192f0c8-7a1e-7c3d-9a4b-5d6e7f809a1b","source":"custody/c","type":"t","subject":"s","schemaversion":1,"position":"1/2","data":{"pii":null}}`))
	f.Add([]byte(`{"data":{"pii":{"a":1}},"position":"18446744073709551615/1"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		rec, err := e.Recorded()
		if err != nil {
			t.Fatalf("accepted event does not convert: %v", err)
		}
		if rec.ID.String() != e.ID || rec.Stream != e.Subject {
			t.Fatalf("envelope changed: %+v vs %+v", rec, e)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("accepted event does not re-encode: %v", err)
		}
	})
}
