package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/custody/custody/adapters/eventlog/pgstore"
)

// Error codes are part of the API contract: clients switch on them, so a code
// never changes meaning once published. The list is in the OpenAPI document.
const (
	CodeBadRequest        = "bad_request"            // malformed JSON, wrong types, trailing data
	CodeUnknownField      = "unknown_field"          // a JSON field the operation does not take
	CodeBodyTooLarge      = "body_too_large"         // request body over the limit
	CodeInvalidID         = "invalid_id"             // an id in the path or body has a bad shape
	CodeInvalidArgument   = "invalid_argument"       // a well-formed request the domain rejects as input
	CodeUnauthenticated   = "unauthenticated"        // no, malformed, unknown or revoked token
	CodeForbidden         = "forbidden"              // the token is not valid for this corp
	CodeNotFound          = "not_found"              // the resource does not exist
	CodeRouteNotFound     = "route_not_found"        // no route for the path
	CodeMethodNotAllowed  = "method_not_allowed"     // the path exists, the method does not
	CodeConflict          = "conflict"               // concurrent change; retry with the same Idempotency-Key
	CodeIdempotencyReused = "idempotency_key_reused" // same key, different request
	CodeUnsupportedMedia  = "unsupported_media_type"
	CodeInternal          = "internal"
	CodeUnavailable       = "unavailable"
)

// apiError is an error with its HTTP rendering. Handlers return it (or
// sentinels that errorOf maps to it); only writeError turns it into bytes.
type apiError struct {
	status  int
	code    string
	message string
	cause   error
}

func (e *apiError) Error() string { return e.code + ": " + e.message }
func (e *apiError) Unwrap() error { return e.cause }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// errorBody is the wire shape of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// sentinelMapping is one row of the sentinel table (errors_map.go).
type sentinelMapping struct {
	err    error
	status int
	code   string
}

// errorOf turns any error into its HTTP rendering. Unknown errors are 500
// "internal" with a generic message: their text may carry details (SQL,
// personal data) that must not leave the process.
func errorOf(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	for _, m := range sentinels {
		if errors.Is(err, m.err) {
			msg := err.Error()
			switch {
			case m.status == http.StatusServiceUnavailable:
				msg = unavailableMessage
			case m.status == http.StatusBadGateway:
				msg = wecomUnavailableMessage
			case m.status >= 500:
				msg = "internal error"
			}
			return &apiError{status: m.status, code: m.code, message: msg, cause: err}
		}
	}
	// The query paths and the API's own tables talk to PostgreSQL
	// directly: a connection failure there is the same outage.
	if pgstore.IsConnFailure(err) {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: unavailableMessage, cause: err}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeBodyTooLarge,
			message: fmt.Sprintf("request body over %d bytes", mbe.Limit), cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal, message: "internal error", cause: err}
}

// wecomUnavailableMessage answers a 502: WeCom's answer was missing or
// unclear, custody recorded nothing and looks at WeCom before asking again.
const wecomUnavailableMessage = "WeCom did not answer clearly; nothing was recorded; retry later (custody checks WeCom before asking again)"

// unavailableMessage answers every 503: whatever happened to the request,
// repeating it with the same Idempotency-Key is safe.
const unavailableMessage = "the database is unavailable; retry later with the same Idempotency-Key"

// RetryAfterSeconds is the Retry-After header of every 503 answer.
const RetryAfterSeconds = 2

// errorJSON renders e in the wire shape.
func errorJSON(e *apiError) []byte {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: e.code, Message: e.message}})
	return append(b, '\n')
}

// ErrorCode is the API's status and stable error code for err (the one
// mapping of errors_map.go), for other front ends that explain errors in
// their own words: the console.
func ErrorCode(err error) (status int, code string) {
	e := errorOf(err)
	return e.status, e.code
}
