package demo

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{}, {URL: "ftp://x", Token: "t"}, {URL: "http://", Token: "t"}, {URL: "http://h:1"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if err := (Options{URL: "http://127.0.0.1:8080", Token: "t"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestStopsAtUnexpectedAnswer: an answer other than 2xx or a rule's 409
// stops the demo with the step, status and code.
func TestStopsAtUnexpectedAnswer(t *testing.T) {
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"code":"unauthenticated","message":"unknown or revoked token"}}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	_, err := Run(context.Background(), Options{URL: srv.URL, Token: "wrong"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != "unauthenticated" || ae.Step != "staff-join-alice" {
		t.Fatalf("err = %v", err)
	}
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "demo:") {
		t.Fatalf("Idempotency-Keys %v", keys)
	}
}
