package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/custody/custody/adapters/driving/wecom/callback"
	"github.com/custody/custody/adapters/driving/wecom/payload"
)

func TestWecomSimulateFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string // in the error
	}{
		"no corp":            {[]string{}, "--corp is required"},
		"lose above 1":       {[]string{"--corp", "acme", "--lose", "1.5"}, "--lose 1.5"},
		"negative duplicate": {[]string{"--corp", "acme", "--duplicate", "-0.1"}, "--duplicate -0.1"},
		"NaN quirk":          {[]string{"--corp", "acme", "--quirk", "NaN"}, "--quirk NaN"},
		"no events":          {[]string{"--corp", "acme", "--events", "0"}, "--events 0"},
		"too many events":    {[]string{"--corp", "acme", "--events", "10001"}, "--events 10001"},
		"short key":          {[]string{"--corp", "acme", "--aes-key", "short"}, "--aes-key"},
		"empty token":        {[]string{"--corp", "acme", "--token", ""}, "--token"},
		"ftp url":            {[]string{"--corp", "acme", "--url", "ftp://host"}, "--url"},
		"bad date":           {[]string{"--corp", "acme", "--date", "2026-13-01"}, "--date"},
		"zero timeout":       {[]string{"--corp", "acme", "--timeout", "0s"}, "--timeout"},
		"stray argument":     {[]string{"--corp", "acme", "now"}, "unexpected arguments"},
		"not a number":       {[]string{"--corp", "acme", "--lose", "lots"}, ""},
		"unknown flag":       {[]string{"--corp", "acme", "--loose", "0.1"}, ""},
	} {
		var stdout, stderr bytes.Buffer
		err := wecomSimulateCmd(context.Background(), tc.args, &stdout, &stderr)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a usage error naming %q", name, err, tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: printed %q", name, stdout.String())
		}
	}
	// Several problems are reported together.
	err := wecomSimulateCmd(context.Background(), []string{"--lose", "2", "--events", "-1"}, io.Discard, io.Discard)
	for _, want := range []string{"--corp", "--lose", "--events"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("joined problems %v lack %s", err, want)
		}
	}
}

// TestWecomSimulateRun runs the command against a receiver that checks
// the URL and opens and parses every callback as custody does.
func TestWecomSimulateRun(t *testing.T) {
	crypto, err := callback.New(callback.Options{
		Keys:       []callback.Key{{Token: sampleToken, EncodingAESKey: sampleAESKey}},
		ReceiveIDs: []string{sampleCorpID},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var verified, posts int
	var problems []error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		q := r.URL.Query()
		if r.URL.Path != "/wecom/callback/acme" {
			problems = append(problems, errors.New("path "+r.URL.Path))
		}
		if r.Method == http.MethodGet {
			plain, err := crypto.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
			if err != nil {
				problems = append(problems, err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			verified++
			_, _ = w.Write(plain)
			return
		}
		body, _ := io.ReadAll(r.Body)
		msg, err := crypto.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
		if err == nil {
			_, err = payload.Parse(msg.Plaintext)
		}
		if err != nil {
			problems = append(problems, err)
		}
		posts++
	}))
	defer srv.Close()

	var stdout bytes.Buffer
	args := []string{"--corp", "acme", "--url", srv.URL + "/", "--events", "30", "--seed", "4", "--date", "2026-03-02",
		"--lose", "0.2", "--duplicate", "0.3", "--quirk", "0.5"}
	if err := wecomSimulateCmd(context.Background(), args, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 || verified != 1 || posts == 0 {
		t.Fatalf("receiver: %d URL checks, %d posts, problems %v", verified, posts, problems)
	}
	for _, want := range []string{"simulating 2026-03-02", "URL check passed", "change_external_contact/add_external_contact",
		"LOST (never sent)", "duplicated", "dialect ", "callbacks 3", "deliveries "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.IndexFunc(out, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 || strings.Contains(out, "wm") {
		t.Errorf("output shows names or customer ids:\n%s", out)
	}
}
