package console

import (
	"net/url"
	"strconv"
	"unicode/utf8"
)

// Form decoders: every posted form is read strictly — only its known
// fields, each at most as often as it may appear, ids by the API's id
// rule — so a bad post is refused with a reason and changes nothing.

// maxFormIDs bounds the ids of one form before the commands apply the
// corp's own batch limit (100 by default).
const maxFormIDs = 1000

// maxMessageBytes bounds the message before the commands count its
// characters against the corp's limit.
const maxMessageBytes = 4096

// handoverForm is a resigned or in-service handover request.
type handoverForm struct {
	FormID    string
	To        string
	Customers []string
	Message   string
}

// groupTransferForm moves groups of departed owners to a member.
type groupTransferForm struct {
	FormID string
	To     string
	Chats  []string
}

// allowOnly refuses fields other than allowed, and repeats of fields
// not marked repeatable.
func allowOnly(v url.Values, allowed map[string]bool) error {
	for k, vs := range v {
		repeat, ok := allowed[k]
		if !ok {
			return &formError{msg: "unknown field " + strconv.Quote(clip(k, 40))}
		}
		if !repeat && len(vs) > 1 {
			return &formError{msg: "field " + k + " given more than once"}
		}
	}
	return nil
}

// validFormID: 1-64 characters of the URL-safe base64 alphabet.
func validFormID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ids checks a repeated id field: 1 to maxFormIDs distinct valid ids.
func ids(field string, vs []string) ([]string, error) {
	if len(vs) == 0 {
		return nil, &formError{msg: "select at least one (" + field + ")"}
	}
	if len(vs) > maxFormIDs {
		return nil, &formError{msg: "too many " + field}
	}
	seen := make(map[string]bool, len(vs))
	out := make([]string, 0, len(vs))
	for _, s := range vs {
		if !validID(s) {
			return nil, &formError{msg: field + " is not a valid id"}
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, nil
}

func decodeHandoverForm(v url.Values) (handoverForm, error) {
	if err := allowOnly(v, map[string]bool{"csrf": false, "form_id": false, "to": false, "customer": true, "message": false}); err != nil {
		return handoverForm{}, err
	}
	f := handoverForm{FormID: v.Get("form_id"), To: v.Get("to"), Message: v.Get("message")}
	if !validFormID(f.FormID) {
		return handoverForm{}, &formError{msg: "form_id missing or invalid"}
	}
	if !validID(f.To) {
		return handoverForm{}, &formError{msg: "choose the member who takes over (to)"}
	}
	if len(f.Message) > maxMessageBytes || !utf8.ValidString(f.Message) {
		return handoverForm{}, &formError{msg: "message too long or not text"}
	}
	var err error
	if f.Customers, err = ids("customer", v["customer"]); err != nil {
		return handoverForm{}, err
	}
	return f, nil
}

func decodeGroupTransferForm(v url.Values) (groupTransferForm, error) {
	if err := allowOnly(v, map[string]bool{"csrf": false, "form_id": false, "to": false, "chat": true}); err != nil {
		return groupTransferForm{}, err
	}
	f := groupTransferForm{FormID: v.Get("form_id"), To: v.Get("to")}
	if !validFormID(f.FormID) {
		return groupTransferForm{}, &formError{msg: "form_id missing or invalid"}
	}
	if !validID(f.To) {
		return groupTransferForm{}, &formError{msg: "choose the member who takes over (to)"}
	}
	var err error
	if f.Chats, err = ids("chat", v["chat"]); err != nil {
		return groupTransferForm{}, err
	}
	return f, nil
}

func decodeCancelForm(v url.Values) error {
	return allowOnly(v, map[string]bool{"csrf": false})
}
