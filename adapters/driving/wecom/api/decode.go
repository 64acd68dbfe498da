package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// WeCom's answers are decoded strictly where it matters (an object with
// an errcode, fields of a compatible type, one JSON value) and tolerantly
// where real answers vary: unknown fields are ignored, ids that look
// numeric may come as numbers, numbers may come as strings, null stands
// for an absent value.

// str is a string field that WeCom may send as a number.
type str string

func (s *str) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = str(v)
	case len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9'):
		*s = str(b)
	default:
		return fmt.Errorf("want a string, got %.20s", b)
	}
	return nil
}

// num is an integer field that WeCom may send as a string.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*n = 0
		return nil
	}
	t := b
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		if v = strings.TrimSpace(v); v == "" {
			*n = 0
			return nil
		}
		t = []byte(v)
	}
	if v, err := strconv.ParseInt(string(t), 10, 64); err == nil {
		*n = num(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return fmt.Errorf("want an integer, got %.20s", b)
	}
	*n = num(f)
	return nil
}

// flag is a boolean WeCom may send as 0/1.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", "1", `"1"`, `"true"`:
		*f = true
	case "false", "0", "null", `"0"`, `"false"`, `""`:
		*f = false
	default:
		return fmt.Errorf("want a boolean, got %.20s", b)
	}
	return nil
}

// unix is a time in unix seconds; 0 or absent is the zero time.
func unix(n num) time.Time {
	if n <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(n), 0)
}

func plain(ss []str) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// wireStatus starts every answer.
type wireStatus struct {
	ErrCode *num `json:"errcode"`
	ErrMsg  str  `json:"errmsg"`
}

// maxAnswer bounds an answer's size; batch pages are far smaller.
const maxAnswer = 32 << 20

// decodeAnswer decodes the answer of api into out (a pointer to a wire
// struct): an *Error when WeCom answered a non-zero errcode, an error
// wrapping ErrDecode when the body is not WeCom's JSON.
func decodeAnswer(api string, body []byte, out any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return fmt.Errorf("wecom api %s: not a JSON object: %w", api, ErrDecode)
	}
	var st wireStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("wecom api %s: %w: %w", api, ErrDecode, trimJSONError(err))
	}
	if st.ErrCode == nil {
		return fmt.Errorf("wecom api %s: no errcode: %w", api, ErrDecode)
	}
	if *st.ErrCode != 0 {
		code := *st.ErrCode
		if code < math.MinInt32 || code > math.MaxInt32 {
			return fmt.Errorf("wecom api %s: errcode out of range: %w", api, ErrDecode)
		}
		return &Error{API: api, Code: int(code), Msg: string(st.ErrMsg)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("wecom api %s: %w: %w", api, ErrDecode, trimJSONError(err))
	}
	return nil
}

// trimJSONError keeps the kind of a JSON error, not the data it quotes
// (answers hold personal data: names, remarks).
func trimJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %s: want %s", te.Field, te.Type)
	}
	return errors.New("field of an unexpected type")
}
