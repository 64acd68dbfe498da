package api

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Sentinel classes of failures. Every error a Client method returns for a
// failed call wraps one of them or is an *Error that matches some with
// errors.Is; test with errors.Is, read the details with errors.As(*Error).
var (
	// ErrTransient: WeCom was busy (-1), limited the call (45009,
	// 45033), answered HTTP 5xx or 429, or the network failed. The client
	// retried within its bounds before returning it.
	ErrTransient = errors.New("wecom api: transient failure")
	// ErrRateLimited: WeCom's frequency or concurrency limit (45009,
	// 45033). Also ErrTransient.
	ErrRateLimited = errors.New("wecom api: rate limited")
	// ErrTokenRejected: WeCom refused the access token (40014 invalid,
	// 42001 expired, 40001 invalid credential) even after one refetch.
	ErrTokenRejected = errors.New("wecom api: access token rejected")
	// ErrCredentials: gettoken refused the corpid or app secret (40001,
	// 40013): the connection must be fixed; retrying will not help.
	ErrCredentials = errors.New("wecom api: corpid or app secret refused")
	// ErrNotFound: WeCom does not know an id of the request (40003
	// userid, 40096 external_userid, 40050 chat id, 60111 userid,
	// 84061 no relation between the member and the customer).
	ErrNotFound = errors.New("wecom api: unknown id")
	// ErrInvalid: the request is malformed (40058, 47001, 41xxx missing
	// parameters) or was refused before it was sent (an argument out of
	// WeCom's documented bounds, invalid Options).
	ErrInvalid = errors.New("wecom api: invalid request")
	// ErrForbidden: the app may not call this API or see this data
	// (48001, 48002, 60011, 60020).
	ErrForbidden = errors.New("wecom api: forbidden")
	// ErrDecode: the answer is not WeCom's JSON (not an object, no
	// errcode, a field of the wrong type, too large) or its cursor does
	// not advance.
	ErrDecode = errors.New("wecom api: undecodable answer")
	// ErrNoSecret: the corp's connection has no app secret.
	ErrNoSecret = errors.New("wecom api: connection has no app secret")
)

// Error is a failed call: an errcode WeCom answered, a non-200 HTTP
// status or a network failure. It never holds the access token or the
// app secret.
type Error struct {
	// API is the path after /cgi-bin/ (e.g. "externalcontact/groupchat/get").
	API string
	// Code is WeCom's errcode; 0 for HTTP and network failures.
	Code int
	// Msg is WeCom's errmsg, or what failed.
	Msg string
	// HTTPStatus is the status of a non-200 answer, 0 otherwise.
	HTTPStatus int
	// err is the network failure, redacted (no URL).
	err error
}

func (e *Error) Error() string {
	switch {
	case e.Code != 0:
		return fmt.Sprintf("wecom api %s: errcode %d: %s", e.API, e.Code, e.Msg)
	case e.HTTPStatus != 0:
		return fmt.Sprintf("wecom api %s: HTTP %d", e.API, e.HTTPStatus)
	}
	return fmt.Sprintf("wecom api %s: %s", e.API, e.Msg)
}

// Unwrap returns the network failure, if any (context.DeadlineExceeded
// for an attempt that timed out).
func (e *Error) Unwrap() error { return e.err }

// Is matches e against the sentinel classes.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrTransient:
		return e.Code == -1 || e.rateLimited() || e.HTTPStatus >= 500 || e.HTTPStatus == 429 || e.err != nil
	case ErrRateLimited:
		return e.rateLimited()
	case ErrTokenRejected:
		return e.API != apiGetToken && slices.Contains([]int{40001, 40014, 42001, 41001}, e.Code)
	case ErrCredentials:
		return e.API == apiGetToken && slices.Contains([]int{40001, 40013}, e.Code)
	case ErrNotFound:
		return slices.Contains([]int{40003, 40050, 40096, 60111, 84061}, e.Code)
	case ErrInvalid:
		return slices.Contains([]int{40035, 40058, 47001}, e.Code) || e.Code/1000 == 41 && e.Code != 41001 ||
			e.HTTPStatus != 0 && e.HTTPStatus < 500 && e.HTTPStatus != 429
	case ErrForbidden:
		return slices.Contains([]int{48001, 48002, 60011, 60020}, e.Code)
	}
	return false
}

func (e *Error) rateLimited() bool { return e.Code == 45009 || e.Code == 45033 }

// redactor removes secrets from text bound for errors.
type redactor []string

func (r redactor) redact(s string) string {
	for _, secret := range r {
		if secret == "" {
			continue
		}
		s = strings.ReplaceAll(s, secret, "REDACTED")
		if q := url.QueryEscape(secret); q != secret {
			s = strings.ReplaceAll(s, q, "REDACTED")
		}
	}
	return s
}

// redactedError keeps the chain (errors.Is still sees
// context.DeadlineExceeded) but not the text of a network failure.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// networkError turns a transport failure into an *Error without the
// request URL (its query holds the token or the secret).
func networkError(api string, err error, r redactor) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // Op and URL dropped
	}
	msg := r.redact(err.Error())
	return &Error{API: api, Msg: msg, err: &redactedError{msg: msg, err: err}}
}
