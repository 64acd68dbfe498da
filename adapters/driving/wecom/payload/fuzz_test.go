package payload

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// encode writes e back as a payload: known fields in table order, then the
// member list with its nested extras, then the other extras.
func encode(e Event) []byte {
	var b bytes.Buffer
	elem := func(name, text string) {
		b.WriteString("<" + name + ">")
		xml.EscapeText(&b, []byte(text))
		b.WriteString("</" + name + ">")
	}
	b.WriteString("<xml>")
	for i := range fields {
		f := fields[i]
		if f.str != nil {
			elem(f.name, *f.str(&e))
		} else {
			elem(f.name, f.num(&e).Raw)
		}
	}
	if e.MemChangeList != nil {
		b.WriteString("<MemChangeList>")
		for _, m := range e.MemChangeList {
			elem("Item", m)
		}
		for _, x := range e.Extra {
			if name, ok := strings.CutPrefix(x.Name, memChangeList+"/"); ok {
				elem(name, x.Value)
			}
		}
		b.WriteString("</MemChangeList>")
	}
	for _, x := range e.Extra {
		if !strings.HasPrefix(x.Name, memChangeList+"/") {
			elem(x.Name, x.Value)
		}
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// FuzzParse: any input either fails with a sentinel or parses into an
// Event whose Validate, Kind and DedupKey do not panic, and which written
// back and parsed again has the same DedupKey.
func FuzzParse(f *testing.F) {
	f.Add([]byte(docExample))
	f.Add([]byte(`<xml><Event>change_external_chat</Event><ChangeType>update</ChangeType><UpdateDetail>add_member</UpdateDetail><JoinScene>x</JoinScene><MemChangeList><Item>a</Item><Z>q</Z></MemChangeList><MemChangeList>m</MemChangeList></xml>`))
	f.Add([]byte(`<xml><SuiteId>s</SuiteId><AuthCorpId>c</AuthCorpId><InfoType>i</InfoType><TimeStamp>1</TimeStamp><userid>u</userid><UserID>v</UserID></xml>`))
	f.Add([]byte(`<!DOCTYPE x><xml/>`))
	f.Add([]byte("<xml><State>\u0085&#13;</State></xml>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("Validate: %v", err)
			}
		}
		_ = e.Kind()
		key := e.DedupKey()
		if len(key) != 64 {
			t.Fatalf("key %q", key)
		}
		again, err := Parse(encode(e))
		if err != nil {
			t.Fatalf("re-encoded event does not parse: %v\n%s", err, encode(e))
		}
		if again.DedupKey() != key {
			t.Fatalf("re-encoded event has another key:\n%#v\n%#v", e, again)
		}
	})
}
