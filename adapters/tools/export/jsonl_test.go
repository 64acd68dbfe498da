package export

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
)

// FuzzJSONLine: whatever an event holds (strings from WeCom callbacks and
// integrators, stored JSON with any whitespace or none at all), its export
// line is one valid JSON object that gives the strings back.
func FuzzJSONLine(f *testing.F) {
	f.Add("acme", "staff:s1", "corr\n\"x\"\\", []byte(`{"a": 1,
 "b": [1, 2]}`), []byte(`{"name":"王\u2028"}`))
	f.Add("", "", "\x00\x1f\x7f", []byte(`not json`), []byte(``))
	f.Add("\xff\xfe", "\u2029", "<html>&", []byte(`"str"`), []byte("{\"x\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, corp, actor, corr string, data, pii []byte) {
		r := events.Recorded{
			Event: events.Event{
				ID: uuid.New(), Type: "staff.joined", SchemaVersion: 1, CorpID: corp,
				OccurredAt: time.Unix(1, 5).UTC(), Actor: actor, CorrelationID: corr,
				Data: data, PII: pii, Subject: "s",
			},
			Stream: "staff-" + corp,
		}
		row := NewRow(&r, true)
		var buf bytes.Buffer
		w := newJSONLWriter(&buf)
		if err := w.write([]Row{row}); err != nil {
			t.Fatal(err)
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		line := buf.Bytes()
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line: %q", line)
		}
		var v struct {
			CorpID        string          `json:"corp_id"`
			Actor         string          `json:"actor"`
			CorrelationID string          `json:"correlation_id"`
			Data          json.RawMessage `json:"data"`
			PII           json.RawMessage `json:"pii"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("invalid JSON line %q: %v", line, err)
		}
		for _, c := range [][2]string{{v.CorpID, corp}, {v.Actor, actor}, {v.CorrelationID, corr}} {
			if want := validUTF8(c[1]); c[0] != want {
				t.Fatalf("string %q came back as %q", want, c[0])
			}
		}
		if json.Valid(data) {
			var a, b bytes.Buffer
			_ = json.Compact(&a, data)
			_ = json.Compact(&b, v.Data)
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("data %s came back as %s", data, v.Data)
			}
		}
		if len(pii) == 0 && string(v.PII) != "null" {
			t.Fatalf("empty pii came back as %s", v.PII)
		}
	})
}

// validUTF8 replaces every invalid byte with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r)
		i += n
	}
	return string(b)
}
