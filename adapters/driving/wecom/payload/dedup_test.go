package payload

import (
	"strings"
	"testing"

	"github.com/custody/custody/adapters/driving/wecom/callback"
)

func mustParse(t testing.TB, s string) Event {
	t.Helper()
	e, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return e
}

// The canonical form is stored with inbox rows: a change to it must be
// deliberate (bump dedupDomain and update this value). The value was
// computed independently from DedupKey's documented form (a few lines of
// Python: uvarint-prefixed names and values after the domain label).
func TestDedupKeyGolden(t *testing.T) {
	const want = "a1eb4cd4cce9c415189dde9d1ad7fe3091fc5fb902c3a84c9d14799a42645126"
	if got := mustParse(t, docExample).DedupKey(); got != want {
		t.Fatalf("DedupKey = %s, want %s", got, want)
	}
}

func TestDedupKeySameEvent(t *testing.T) {
	key := mustParse(t, docExample).DedupKey()
	for name, variant := range map[string]string{
		"no CDATA":                        `<xml><ToUserName>toUser</ToUserName><FromUserName>sys</FromUserName><CreateTime>1403610513</CreateTime><MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>add_external_contact</ChangeType><UserID>zhangsan</UserID><ExternalUserID>woAJ2GCAAAXtWyujaWJHDDGi0mAAAA</ExternalUserID><State>teststate</State><WelcomeCode>WELCOMECODE</WelcomeCode></xml>`,
		"reordered, indented, other case": "<xml>\n <welcomecode>WELCOMECODE</welcomecode>\n <State>teststate</State>\n <ExternalUserID>woAJ2GCAAAXtWyujaWJHDDGi0mAAAA</ExternalUserID>\n <UserId>zhangsan</UserId>\n <ChangeType>add_external_contact</ChangeType>\n <Event>change_external_contact</Event>\n <MsgType>event</MsgType>\n <CreateTime> 1403610513 </CreateTime>\n <FromUserName>sys</FromUserName>\n <ToUserName>toUser</ToUserName>\n</xml>",
	} {
		if got := mustParse(t, variant).DedupKey(); got != key {
			t.Errorf("%s: key %s, want %s", name, got, key)
		}
	}
}

func TestDedupKeyDifferentEvents(t *testing.T) {
	keys := map[string]string{}
	add := func(name string, e Event) {
		k := e.DedupKey()
		if len(k) != 64 || strings.Trim(k, "0123456789abcdef") != "" {
			t.Fatalf("%s: key %q is not 64 lowercase hex characters", name, k)
		}
		if other, dup := keys[k]; dup {
			t.Errorf("%s and %s share the key %s", name, other, k)
		}
		keys[k] = name
	}
	base := docEvent
	add("base", base())
	mods := map[string]func(*Event){
		"other corp":         func(e *Event) { e.ToUserName = "other" },
		"other second":       func(e *Event) { e.CreateTime = num("1403610514", 1403610514) },
		"other change":       func(e *Event) { e.ChangeType = "add_half_external_contact" },
		"other staff":        func(e *Event) { e.UserID = "lisi" },
		"other customer":     func(e *Event) { e.ExternalUserID = "woAJ2GCAAAXtWyujaWJHDDGi0mAAAB" },
		"no state":           func(e *Event) { e.State = "" },
		"other welcome code": func(e *Event) { e.WelcomeCode = "W2" },
		"with source":        func(e *Event) { e.Source = "DELETE_BY_TRANSFER" },
		"with extra":         func(e *Event) { e.Extra = []Field{{"New", "1"}} },
		"with other extra":   func(e *Event) { e.Extra = []Field{{"New", "2"}} },
		"boundary shifted": func(e *Event) {
			e.UserID, e.ExternalUserID = "zhangsanw", "oAJ2GCAAAXtWyujaWJHDDGi0mAAAA"
		},
		"value moved to another field": func(e *Event) { e.State, e.Source = "", "teststate" },
		"third-party corp":             func(e *Event) { e.ToUserName, e.AuthCorpID = "", "toUser" },
		"timestamp instead":            func(e *Event) { e.CreateTime, e.TimeStamp = Int{}, num("1403610513", 1403610513) },
		"empty member list": func(e *Event) {
			e.MemChangeList = []string{""}
		},
	}
	for name, mod := range mods {
		e := base()
		mod(&e)
		add(name, e)
	}
	chat := Event{Event: "change_external_chat", ChangeType: "update", UpdateDetail: "add_member", ChatID: "wr1"}
	for name, list := range map[string][]string{
		"members a,b": {"a", "b"},
		"members b,a": {"b", "a"},
		"members ab":  {"ab"},
		"member a":    {"a"},
	} {
		e := chat
		e.MemChangeList = list
		add(name, e)
	}
}

// A retry is re-encrypted with another random prefix, nonce and timestamp;
// after opening, its key is the first delivery's.
func TestDedupKeyAcrossRetries(t *testing.T) {
	c, err := callback.New(callback.Options{
		Keys:       []callback.Key{{Token: "QDG6eK", EncodingAESKey: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}},
		ReceiveIDs: []string{"toUser"},
	})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(payload, random, ts, nonce string) string {
		s, err := c.Seal([]byte(payload), ts, nonce, strings.NewReader(random))
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Open(s.Signature, ts, nonce, s.Body)
		if err != nil {
			t.Fatal(err)
		}
		return mustParse(t, string(m.Plaintext)).DedupKey()
	}
	first := deliver(docExample, "aaaaaaaaaaaaaaaa", "1403610513", "1")
	retry := deliver(docExample, "bbbbbbbbbbbbbbbb", "1403610518", "2")
	if first != retry {
		t.Fatalf("retry key %s, first %s", retry, first)
	}
	other := deliver(strings.Replace(docExample, "zhangsan", "lisi", 1), "aaaaaaaaaaaaaaaa", "1403610513", "1")
	if other == first {
		t.Fatal("a different event got the same key")
	}
}
