package httpapi

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
)

// TestWeComConnectionRoutes: connecting through the API stores the
// secrets sealed and never shows them; bad values are refused naming the
// field but not echoing it; the inbox lists what arrived.
func TestWeComConnectionRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	const aesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	path := "/v1/corps/acme/wecom/connection"

	h.must(404, "GET", path, tok, nil)
	for name, body := range map[string]map[string]any{
		"short key":      {"wecom_corp_id": "ww1", "token": "SecretTok1", "encoding_aes_key": "tooShortKey"},
		"token with NUL": {"wecom_corp_id": "ww1", "token": "Secret\u0000Tok", "encoding_aes_key": aesKey},
		"no corpid":      {"token": "SecretTok1", "encoding_aes_key": aesKey},
		"overlap":        {"wecom_corp_id": "ww1", "token": "SecretTok1", "encoding_aes_key": aesKey, "overlap_seconds": -5},
	} {
		a := h.must(400, "PUT", path, tok, body)
		if bytes.Contains(a.body, []byte("SecretTok")) || bytes.Contains(a.body, []byte(aesKey)) {
			t.Errorf("%s: the error echoes a secret: %s", name, a.body)
		}
	}
	a := h.must(200, "PUT", path, tok, map[string]any{"wecom_corp_id": "ww1", "token": "SecretTok1", "encoding_aes_key": aesKey, "secret": "AppSecret9"})
	var conn WeComConnection
	a.json(t, &conn)
	if conn.WeComCorpID != "ww1" || !conn.HasSecret || conn.CallbackPath != "/wecom/callback/acme" {
		t.Fatalf("connect answered %+v", conn)
	}
	// Rotation keeps the old pair for the overlap; nothing secret shows.
	a = h.must(200, "PUT", path, tok, map[string]any{"wecom_corp_id": "ww1", "token": "SecretTok2", "encoding_aes_key": aesKey, "overlap_seconds": 600})
	a.json(t, &conn)
	if conn.PreviousKeys != 1 || !conn.HasSecret {
		t.Fatalf("after rotation %+v", conn)
	}
	got := h.must(200, "GET", path, tok, nil)
	for _, secret := range []string{"SecretTok", aesKey, "AppSecret9"} {
		if bytes.Contains(a.body, []byte(secret)) || bytes.Contains(got.body, []byte(secret)) {
			t.Errorf("an answer shows the secret %q", secret)
		}
	}
	var dump string
	if err := h.pool.QueryRow(context.Background(), `SELECT encode(sealed, 'escape') FROM wecom.connections`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, "SecretTok") || strings.Contains(dump, "AppSecret9") {
		t.Error("secrets stored in the clear")
	}

	// The inbox shows stored callbacks by status, paged.
	ib := inbox.New(h.pool)
	for _, k := range []string{"k1", "k2", "k3"} {
		if _, err := ib.Store(context.Background(), inbox.Callback{CorpID: "acme", DedupKey: k, Kind: "change_external_contact/add_external_contact", Subject: "customer:wm" + k, Payload: []byte("<xml/>")}); err != nil {
			t.Fatal(err)
		}
	}
	var page WeComInboxPage
	h.must(200, "GET", "/v1/corps/acme/wecom/inbox?limit=2", tok, nil).json(t, &page)
	if page.Counts["pending"] != 3 || len(page.Items) != 2 || page.Next == "" {
		t.Fatalf("inbox page %+v", page)
	}
	var rest WeComInboxPage
	h.must(200, "GET", "/v1/corps/acme/wecom/inbox?limit=2&cursor="+page.Next, tok, nil).json(t, &rest)
	if len(rest.Items) != 1 || rest.Items[0].ID <= page.Items[1].ID || rest.Next != "" {
		t.Fatalf("second page %+v", rest)
	}
	h.must(400, "GET", "/v1/corps/acme/wecom/inbox?status=lost", tok, nil)
	h.must(400, "GET", "/v1/corps/acme/wecom/inbox?cursor=x%00", tok, nil)

	h.must(204, "DELETE", path, tok, nil)
	if a := h.must(404, "GET", path, tok, nil); !bytes.Contains(a.body, []byte("wecom_not_connected")) {
		t.Fatalf("after disconnect: %s", a.body)
	}
}
