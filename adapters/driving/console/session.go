package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Cookies of the console. Both are HttpOnly and SameSite=Strict, Path
// /console/: scripts cannot read them and other sites cannot make a
// browser send them.
const (
	// sessionCookie holds the sealed session.
	sessionCookie = "custody_console"
	// preCookie holds the nonce the sign-in form's CSRF token is bound to,
	// before there is a session.
	preCookie = "custody_console_pre"
	// sessionTTL is how long a session lasts.
	sessionTTL = 12 * time.Hour
)

// session is what the sealed cookie holds: the token the user signed in
// with (re-authenticated on every request, so a revocation ends the
// session), the nonce the CSRF tokens are bound to, and the expiry.
type session struct {
	Secret  string `json:"s"`
	Nonce   string `json:"n"`
	Expires int64  `json:"e"`
}

// sealer seals sessions (AES-256-GCM) and derives CSRF tokens (HMAC-SHA256)
// with keys derived from Options.SessionKey.
type sealer struct {
	aead cipher.AEAD
	mac  []byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) < 32 {
		return nil, errors.New("console: SessionKey must be at least 32 bytes")
	}
	enc, err := hkdf.Key(sha256.New, key, nil, "custody console session v1", 32)
	if err != nil {
		return nil, err
	}
	mac, err := hkdf.Key(sha256.New, key, nil, "custody console csrf v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, mac: mac}, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// seal encrypts and authenticates s into a cookie value.
func (k *sealer) seal(s session) (string, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.aead.Seal(nonce, nonce, plain, []byte(sessionCookie))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open returns the session of a cookie value, refusing anything altered,
// sealed under another key or expired at now.
func (k *sealer) open(v string, now time.Time) (session, bool) {
	if len(v) > 4096 {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return session{}, false
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(sessionCookie))
	if err != nil {
		return session{}, false
	}
	var s session
	if json.Unmarshal(plain, &s) != nil || s.Secret == "" || s.Nonce == "" || now.Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// csrf is the CSRF token of forms bound to nonce, for purpose ("form" in a
// session, "login" before one).
func (k *sealer) csrf(purpose, nonce string) string {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether got is the token for purpose and nonce.
func (k *sealer) checkCSRF(purpose, nonce, got string) bool {
	if nonce == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(k.csrf(purpose, nonce)), []byte(got))
}

// setCookie sets one of the console's cookies.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: maxAge,
	})
}
