package importer

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/custody/custody/events/eventlog"
)

// FuzzDecode: whatever a line holds, Decode does not panic; it returns
// either a *LineError wrapping ErrBadRecord (naming the line) or exactly one
// record whose ids follow the id rule and whose text follows the text rule.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"alice","name":"Li Na","capacity":5}`,
		`{"kind":"relation","at":"2025-01-01T00:00:00Z","customer_id":"wm1","staff_id":"alice","initiator":"customer","add_way":2,"state":"qr","tags":["vip"],"customer_name":"王","remark":"r","description":"d","phones":["138"]}`,
		`{"kind":"group","at":"2025-01-01T00:00:00Z","chat_id":"wr1","owner_id":"alice","name":"g"}`,
		`{"kind":"group_member","at":"2025-01-01T00:00:00Z","chat_id":"wr1","member_id":"wm1","member_type":"customer","join_scene":"invited","inviter_id":"alice","nickname":"n"}`,
		`{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"a","staff_id":"b"}`,
		`{"kind":"relation","at":null,"customer_id":"wm1"}`,
		`{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"a","Capacity":1}`,
		`{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"a","name":"\ud800"}`,
		`[1,2]`, `"x"`, `{}`, ``, `{"kind":1}`, "{\"kind\":\"staff\"}\x00",
		`{"kind":"staff","kind":"relation","at":"2025-01-01T00:00:00Z","staff_id":"a"}`,
		`{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"a","chat_id":"x"`,
		`{"kind":"group","at":"2025-01-01T00:00:00Z","chat_id":"wr1","owner_id":"alice","name":"g"}  `,
		`{"kind":"group_member" ,"at":"2025-01-01T00:00:00Z"}`, `{"kind":"staffer","at":"2025-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		// The one-pass decoding of a line whose kind leads gives what
		// reading the kind first gives: the same record or the same error.
		fast, fastErr := decode(line, "acme", testNow)
		full, fullErr := decodeFull(line, "acme", testNow)
		if fmt.Sprint(fastErr) != fmt.Sprint(fullErr) || !reflect.DeepEqual(fast, full) {
			t.Fatalf("decode = %+v, %v; decodeFull = %+v, %v", fast, fastErr, full, fullErr)
		}
		rec, err := Decode(line, 7, "acme", testNow)
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line != 7 || !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v is not a LineError of line 7 wrapping ErrBadRecord", err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error message is not valid UTF-8")
			}
			return
		}
		set := 0
		var ids, texts []string
		if c := rec.Staff; c != nil {
			set++
			ids, texts = append(ids, c.StaffID), append(texts, c.Name)
		}
		if c := rec.Relation; c != nil {
			set++
			ids = append(ids, c.CustomerID, c.StaffID)
			texts = append(texts, c.State, c.CustomerName, c.Remark, c.Description)
			texts = append(append(texts, c.Tags...), c.Phones...)
		}
		if c := rec.Group; c != nil {
			set++
			ids, texts = append(ids, c.ChatID, c.OwnerID), append(texts, c.Name)
		}
		if c := rec.Member; c != nil {
			set++
			ids, texts = append(ids, c.ChatID, c.MemberID), append(texts, c.Nickname)
		}
		if set != 1 || rec.Line != 7 {
			t.Fatalf("record with %d commands, line %d", set, rec.Line)
		}
		for _, id := range ids {
			if !validChars(id, 128, "_.@-") {
				t.Fatalf("id %q accepted", id)
			}
		}
		for _, s := range texts {
			if p := eventlog.TextProblem(s); p != "" || strings.ContainsRune(s, '\r') {
				t.Fatalf("text %q accepted: %s", s, p)
			}
		}
	})
}
