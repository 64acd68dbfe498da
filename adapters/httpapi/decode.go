package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxBodyBytes is the default limit of a request body.
const DefaultMaxBodyBytes = 1 << 20

// validCorpID reports whether s can name a corp: 1-64 of [A-Za-z0-9_].
// Corp ids appear inside stream names between dashes
// ("customer-<corp>-<id>"), so they may not contain a dash themselves.
func validCorpID(s string) bool { return validChars(s, 64, "_") }

// validID reports whether s can name a staff member, customer, group chat or
// handover: 1-128 of [A-Za-z0-9_.@-], WeCom's userid / external_userid /
// chat_id shapes.
func validID(s string) bool { return validChars(s, 128, "_.@-") }

// validChars reports whether s has 1 to max bytes, each an ASCII letter or
// digit or one of extra. (A loop, not a regexp: it runs on every request.)
func validChars(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkID returns an invalid_id error naming field when s is not a valid id.
func checkID(field, s string) error {
	if !validID(s) {
		return newError(http.StatusBadRequest, CodeInvalidID,
			"%s must be 1-128 characters of letters, digits, '_', '.', '@' or '-'", field)
	}
	return nil
}

// readBody reads at most limit bytes of r's body; over the limit it returns
// a body_too_large error. The raw bytes are returned for hashing
// (idempotency) and for decodeStrict.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body over %d bytes", limit)
		}
		return nil, newError(http.StatusBadRequest, CodeBadRequest, "reading request body failed")
	}
	return b, nil
}

// checkContentType accepts an absent Content-Type (curl -d sends a form type,
// so that one is accepted too) and application/json; anything else is 415.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return newError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	switch mt {
	case "application/json", "application/x-www-form-urlencoded":
		return nil
	}
	if strings.HasSuffix(mt, "+json") {
		return nil
	}
	return newError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
}

// decodeStrict decodes exactly one JSON object from b into v: unknown
// fields, trailing data, wrong types and an empty body are errors with
// stable codes. It never panics, whatever b holds (FuzzDecodeStrict).
func decodeStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return newError(http.StatusBadRequest, CodeBadRequest, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return newError(http.StatusBadRequest, CodeBadRequest, "trailing data after the JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(http.StatusBadRequest, CodeBadRequest, "trailing data after the JSON object")
	}
	return nil
}

// jsonError classifies an encoding/json error without echoing the input
// (which may hold personal data).
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return newError(http.StatusBadRequest, CodeBadRequest, "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return newError(http.StatusBadRequest, CodeBadRequest, "field %q must be %s", te.Field, te.Type.String())
		}
		return newError(http.StatusBadRequest, CodeBadRequest, "request body must be a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newError(http.StatusBadRequest, CodeBadRequest, "truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return newError(http.StatusBadRequest, CodeUnknownField, "unknown field %s", field)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return newError(http.StatusBadRequest, CodeBadRequest, "times must be RFC 3339, e.g. 2026-01-02T15:04:05Z")
	}
	return newError(http.StatusBadRequest, CodeBadRequest, "invalid JSON: %s", sanitize(err.Error()))
}

// sanitize cuts an error text short so that no long input fragment leaks
// back; encoding/json's remaining messages name types and fields only.
func sanitize(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// parseTime parses an optional RFC 3339 query parameter.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, newError(http.StatusBadRequest, CodeBadRequest, "%s must be an RFC 3339 time", field)
	}
	return t, nil
}

// parseLimit parses an optional page size in [1, max], default def.
func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 || n > max || fmt.Sprint(n) != s {
		return 0, newError(http.StatusBadRequest, CodeBadRequest, "limit must be an integer between 1 and %d", max)
	}
	return n, nil
}
