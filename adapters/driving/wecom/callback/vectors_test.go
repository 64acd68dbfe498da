package callback

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// WeCom's official sample (WECOM.md, "Callback transport and crypto").
const (
	sampleToken     = "QDG6eK"
	sampleAESKey    = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	sampleCorpID    = "wx5823bf96d3bd56c7"
	sampleGetSig    = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
	sampleGetTS     = "1409659589"
	sampleGetNonce  = "263014780"
	sampleEchostr   = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	sampleEchoQuery = "P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
	sampleEchoPlain = "1616140317555161061"
	sampleEchoRand  = "c41b64491c2468d0"

	samplePostSig   = "477715d11cdb4164915debcba66cb864d751f3e6"
	samplePostTS    = "1409659813"
	samplePostNonce = "1372623149"
	samplePostRand  = "0960688932c47ef1"
	samplePostEnc   = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
	samplePostBody  = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[" + samplePostEnc + "]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
	samplePostPlain = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n" +
		"<FromUserName><![CDATA[mycreate]]></FromUserName>\n" +
		"<CreateTime>1409659813</CreateTime>\n" +
		"<MsgType><![CDATA[text]]></MsgType>\n" +
		"<Content><![CDATA[hello]]></Content>\n" +
		"<MsgId>4561255354251345929</MsgId>\n" +
		"<AgentID>218</AgentID>\n" +
		"</xml>"
)

func sampleCrypto(t testing.TB, mod ...func(*Options)) *Crypto {
	t.Helper()
	o := Options{
		Keys:       []Key{{Token: sampleToken, EncodingAESKey: sampleAESKey}},
		ReceiveIDs: []string{sampleCorpID},
		AgentID:    "218",
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestSampleVerifyURL(t *testing.T) {
	c := sampleCrypto(t)
	got, err := c.VerifyURL(sampleGetSig, sampleGetTS, sampleGetNonce, sampleEchostr)
	if err != nil {
		t.Fatalf("VerifyURL: %v", err)
	}
	if string(got) != sampleEchoPlain {
		t.Fatalf("VerifyURL = %q, want %q", got, sampleEchoPlain)
	}
}

// The echostr reaches the handler URL-encoded; it must be decoded exactly
// once. A second decoding turns its '+' into spaces.
func TestSampleEchostrDecodedOnce(t *testing.T) {
	c := sampleCrypto(t)
	q, err := url.ParseQuery("msg_signature=" + sampleGetSig + "&timestamp=" + sampleGetTS +
		"&nonce=" + sampleGetNonce + "&echostr=" + sampleEchoQuery)
	if err != nil {
		t.Fatal(err)
	}
	once := q.Get("echostr")
	if once != sampleEchostr {
		t.Fatalf("decoded once = %q, want %q", once, sampleEchostr)
	}
	got, err := c.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), once)
	if err != nil || string(got) != sampleEchoPlain {
		t.Fatalf("decoded once: VerifyURL = %q, %v", got, err)
	}

	twice, err := url.QueryUnescape(once)
	if err != nil {
		t.Fatal(err)
	}
	if twice == once || !strings.Contains(twice, " ") {
		t.Fatalf("second decoding did not alter the echostr: %q", twice)
	}
	if _, err := c.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), twice); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("decoded twice: err = %v, want ErrBadSignature", err)
	}
}

func TestSampleOpen(t *testing.T) {
	c := sampleCrypto(t)
	m, err := c.Open(samplePostSig, samplePostTS, samplePostNonce, []byte(samplePostBody))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if len(m.Plaintext) != 284 {
		t.Errorf("plaintext is %d bytes, want 284", len(m.Plaintext))
	}
	if string(m.Plaintext) != samplePostPlain {
		t.Errorf("plaintext = %q, want %q", m.Plaintext, samplePostPlain)
	}
	if m.ReceiveID != sampleCorpID || m.Key != 0 || m.ToUserName != sampleCorpID || m.AgentID != "218" {
		t.Errorf("message = %+v", m)
	}
}

func TestSampleSealEchostr(t *testing.T) {
	c := sampleCrypto(t)
	s, err := c.Seal([]byte(sampleEchoPlain), sampleGetTS, sampleGetNonce, strings.NewReader(sampleEchoRand))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if s.Encrypt != sampleEchostr {
		t.Errorf("Encrypt = %q, want %q", s.Encrypt, sampleEchostr)
	}
	if s.Signature != sampleGetSig {
		t.Errorf("Signature = %q, want %q", s.Signature, sampleGetSig)
	}
}

func TestSampleSealPost(t *testing.T) {
	c := sampleCrypto(t)
	s, err := c.Seal([]byte(samplePostPlain), samplePostTS, samplePostNonce, strings.NewReader(samplePostRand))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if s.Encrypt != samplePostEnc {
		t.Errorf("Encrypt = %q, want %q", s.Encrypt, samplePostEnc)
	}
	if s.Signature != samplePostSig {
		t.Errorf("Signature = %q, want %q", s.Signature, samplePostSig)
	}
	if !bytes.Equal(s.Body, []byte(samplePostBody)) {
		t.Errorf("Body = %q, want %q", s.Body, samplePostBody)
	}
}

// The sample's stated paddings: 7 for the echostr, 30 for the POST.
func TestSamplePadding(t *testing.T) {
	c := sampleCrypto(t)
	for _, tc := range []struct {
		enc  string
		want byte
	}{{sampleEchostr, 7}, {samplePostEnc, 30}} {
		plain := rawDecrypt(t, c, tc.enc)
		if got := plain[len(plain)-1]; got != tc.want {
			t.Errorf("pad = %d, want %d", got, tc.want)
		}
	}
}

func TestSampleSignature(t *testing.T) {
	if got := Signature(sampleToken, sampleGetTS, sampleGetNonce, sampleEchostr); got != sampleGetSig {
		t.Errorf("GET signature = %s, want %s", got, sampleGetSig)
	}
	if got := Signature(sampleToken, samplePostTS, samplePostNonce, samplePostEnc); got != samplePostSig {
		t.Errorf("POST signature = %s, want %s", got, samplePostSig)
	}
	// Order of the arguments does not matter: they are sorted.
	if Signature(samplePostEnc, samplePostNonce, samplePostTS, sampleToken) != samplePostSig {
		t.Error("signature depends on argument order")
	}
}
