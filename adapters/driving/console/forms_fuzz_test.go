package console

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

// FuzzForms feeds arbitrary bodies to the form decoders: none panics, a
// refusal is a *formError (a 400 with a reason), and what is accepted
// keeps the rules the commands rely on.
func FuzzForms(f *testing.F) {
	for _, seed := range []string{
		"csrf=x&form_id=abc&to=grace&customer=wm1&customer=wm2&message=hi",
		"form_id=abc&to=grace&customer=wm1&customer=wm1",
		"form_id=abc&to=grace",
		"form_id=&to=grace&customer=wm1",
		"form_id=abc&to=../x&customer=wm1",
		"form_id=abc&to=grace&customer=%00",
		"form_id=abc&to=grace&customer=wm1&extra=1",
		"form_id=abc&form_id=def&to=grace&customer=wm1",
		"form_id=abc&to=grace&chat=wr1&chat=wr2",
		"csrf=x",
		"csrf=x&csrf=y",
		"message=%ff%fe&form_id=a&to=b&customer=c",
		"%zz",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		check := func(err error) {
			var fe *formError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("refusal %v is not a form error", err)
			}
		}
		h, err := decodeHandoverForm(v)
		check(err)
		if err == nil {
			if !validFormID(h.FormID) || !validID(h.To) || len(h.Customers) == 0 || len(h.Customers) > maxFormIDs || len(h.Message) > maxMessageBytes {
				t.Fatalf("accepted %+v", h)
			}
			seen := map[string]bool{}
			for _, c := range h.Customers {
				if !validID(c) || seen[c] {
					t.Fatalf("accepted customer %q twice or invalid", c)
				}
				seen[c] = true
			}
		}
		g, err := decodeGroupTransferForm(v)
		check(err)
		if err == nil && (!validID(g.To) || len(g.Chats) == 0) {
			t.Fatalf("accepted %+v", g)
		}
		check(decodeCancelForm(v))
		// The redirect target and the session cookie decoders too.
		if n := safeNext(body); n != "" && (n[0] != '/' || len(n) > 1 && n[1] == '/') {
			t.Fatalf("safeNext kept %q", n)
		}
		k, _ := newSealer(make([]byte, 32))
		if _, ok := k.open(body, time.Now()); ok {
			t.Fatalf("an unsealed cookie %q opened", body)
		}
	})
}
