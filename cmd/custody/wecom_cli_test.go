package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestWeComCommandRefusesBadInput: every flag and secret of `custody wecom`
// is checked before anything is opened or stored; a bad value is a usage
// error that names the problem without echoing a secret.
func TestWeComCommandRefusesBadInput(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://127.0.0.1:1/never-opened") // a refusal must come before any connection
	const goodKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	cases := []struct {
		name        string
		args        []string
		token, key  string
		secret      string
		wantMessage string
	}{
		{"no action", nil, "", "", "", ""},
		{"unknown action", []string{"nope"}, "", "", "", ""},
		{"connect without corp", []string{"connect", "--corpid", "ww1"}, "Tok1", goodKey, "", "--corp"},
		{"negative overlap", []string{"connect", "--corp", "acme", "--corpid", "ww1", "--overlap", "-1s"}, "Tok1", goodKey, "", "--overlap"},
		{"huge overlap", []string{"connect", "--corp", "acme", "--corpid", "ww1", "--overlap", "10000h"}, "Tok1", goodKey, "", "--overlap"},
		{"token with a control character", []string{"connect", "--corp", "acme", "--corpid", "ww1"}, "To\x01k", goodKey, "", "token"}, // (an environment variable cannot hold NUL)
		{"short key", []string{"connect", "--corp", "acme", "--corpid", "ww1"}, "Tok1", "short", "", "encoding_aes_key"},
		{"secret with a newline", []string{"connect", "--corp", "acme", "--corpid", "ww1"}, "Tok1", goodKey, "sec\nret", "secret"},
		{"corpid with a dash", []string{"connect", "--corp", "acme", "--corpid", "w-w"}, "Tok1", goodKey, "", "corpid"},
		{"inbox without corp", []string{"inbox"}, "", "", "", "--corp"},
		{"inbox unknown status", []string{"inbox", "--corp", "acme", "--status", "lost"}, "", "", "", "--status"},
		{"inbox zero limit", []string{"inbox", "--corp", "acme", "--limit", "0"}, "", "", "", "--limit"},
		{"inbox huge limit", []string{"inbox", "--corp", "acme", "--limit", "99999999"}, "", "", "", "--limit"},
		{"stray argument", []string{"list", "extra"}, "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CUSTODY_WECOM_TOKEN", c.token)
			t.Setenv("CUSTODY_WECOM_AES_KEY", c.key)
			t.Setenv("CUSTODY_WECOM_SECRET", c.secret)
			err := runWeCom(context.Background(), c.args)
			if !errors.Is(err, errUsage) {
				t.Fatalf("runWeCom(%q) = %v, want a usage error", c.args, err)
			}
			if !strings.Contains(err.Error(), c.wantMessage) {
				t.Fatalf("error %q does not name %q", err, c.wantMessage)
			}
			for _, secret := range []string{"To\x01k", "sec\nret", goodKey} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error echoes a secret: %q", err)
				}
			}
		})
	}
}
