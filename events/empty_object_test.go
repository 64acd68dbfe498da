package events

import (
	"encoding/json"
	"testing"
)

// emptyByMap is the reference isEmptyObject was first written as: decode
// into a map and look at every value.
func emptyByMap(b []byte) bool {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return false
	}
	for _, v := range m {
		switch x := v.(type) {
		case nil:
		case string:
			if x != "" {
				return false
			}
		case []any:
			if len(x) > 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

var emptyObjectCases = []string{
	`{}`, `null`, ` { } `, `{"a":""}`, `{"a":null,"b":[],"c":""}`, `{"a":"x"}`, `{"a":[""]}`, `{"a":[]," b":"\u0000"}`,
	`{"a":""`, `[]`, `""`, `0`, `{"a":0}`, `{"a":false}`, `{"a":{}}`, `{"a":"","b":"\u00e9"}`, `{} {}`, `{"a":[] }x`,
	`{"name":"","remark":"","phones":null}`, `{"name":"张三","remark":"","phones":["13800000000"]}`, `{"phones":[]}`,
	`nul`, ``, `{"a":"\"}`, `{"a":"\\"}`,
}

// TestIsEmptyObject: the token scan judges every case as the map
// reference does.
func TestIsEmptyObject(t *testing.T) {
	for _, c := range emptyObjectCases {
		if got, want := isEmptyObject([]byte(c)), emptyByMap([]byte(c)); got != want {
			t.Errorf("isEmptyObject(%q) = %v, the map reference says %v", c, got, want)
		}
	}
}

// FuzzIsEmptyObject: the scan never calls empty what the reference finds
// personal data in (that would drop it), and agrees with it on every
// object json.Marshal writes.
func FuzzIsEmptyObject(f *testing.F) {
	for _, c := range emptyObjectCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ref := isEmptyObject(b), emptyByMap(b)
		if got && !ref {
			t.Fatalf("isEmptyObject(%q) = true, the map reference finds data", b)
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return
		}
		canon, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := isEmptyObject(canon), emptyByMap(canon); got != want {
			t.Fatalf("isEmptyObject(%q) = %v, the map reference says %v", canon, got, want)
		}
	})
}
