// Package callback is the transport layer of WeCom callbacks (企业微信
// 回调, documents 91144, 90238, 91116): it checks msg_signature, decrypts
// the AES-256-CBC payload and checks the receive id, for the URL check (GET,
// VerifyURL) and for events (POST, Open); Seal is the matching encryptor,
// used by the WeCom stand-in and tests. It knows nothing about HTTP, storage
// or what the decrypted message means (see package payload).
//
// It accepts an envelope of at most Options.MaxBody bytes, either
// <xml><ToUserName/><AgentID/><Encrypt/></xml> (AgentID optional, unknown
// elements ignored) or the JSON variant {"tousername","encrypt","agentid"}
// (keys matched as encoding/json does: case-insensitively, the last of a
// repeated key winning; agentid a number or a string), whose Encrypt is
// signed by one of the configured tokens and decrypts, under that token's
// EncodingAESKey, to
//
//	16 random bytes ‖ 4-byte big-endian message length ‖ message ‖ receive id
//
// followed by PKCS#7 padding for 32-byte blocks (pad value 1..32), with a
// receive id among Options.ReceiveIDs. It rejects, with the sentinel errors
// below, anything else: a wrong signature (checked before any decryption), a
// DOCTYPE or a repeated Encrypt in the envelope, Encrypt that is empty, not
// base64 or not whole AES blocks, a pad value of 0 or above 32 or pad bytes
// that disagree, a length field running past the plaintext, a foreign
// receive id, and oversized input. Errors never carry message content.
//
// A Crypto is immutable once built and safe for concurrent use.
package callback

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every error returned by this package wraps one of them;
// test with errors.Is.
var (
	// ErrBadConfig: Options are invalid, e.g. an EncodingAESKey that is not
	// 43 base64 characters decoding (with "=" appended) to 32 bytes. Only
	// New and Options.Validate return it.
	ErrBadConfig = errors.New("callback: bad configuration")
	// ErrBadSignature: msg_signature matches no configured token. Nothing
	// was decrypted.
	ErrBadSignature = errors.New("callback: bad signature")
	// ErrBadPadding: the decrypted bytes do not end in PKCS#7 padding to
	// 32-byte blocks (pad value 1..32, every pad byte equal to it).
	ErrBadPadding = errors.New("callback: bad padding")
	// ErrBadReceiveID: the decrypted receive id is not one of
	// Options.ReceiveIDs (a message for another corp or suite).
	ErrBadReceiveID = errors.New("callback: receive id not accepted")
	// ErrMalformed: the envelope, the base64 or the decrypted layout is
	// not what WeCom sends.
	ErrMalformed = errors.New("callback: malformed message")
	// ErrStale: the timestamp is further from now than the freshness window.
	ErrStale = errors.New("callback: stale timestamp")
	// ErrTooLarge: the body or Encrypt exceeds its configured limit.
	ErrTooLarge = errors.New("callback: message too large")
)

const (
	// DefaultMaxBody is the default limit on an envelope body. WeCom's
	// callbacks are a few hundred bytes to a few KiB (the largest carry
	// a group's member change list).
	DefaultMaxBody = 64 << 10
	// DefaultMaxEncrypt is the default limit on the Encrypt value (and on
	// the echostr of a URL check).
	DefaultMaxEncrypt = 64 << 10
	// DefaultMaxSkew is the default freshness window of CheckTimestamp:
	// a callback whose timestamp is more than this before or after now
	// is refused. WeCom retries within seconds (5 s timeout, 3 attempts),
	// so a genuine delivery is seconds old; the window is 10 minutes rather
	// than the ±5 often quoted to absorb clock skew and a queue in front
	// of the handler. Replays inside the window are caught by content
	// deduplication (payload.Event.DedupKey), not here.
	DefaultMaxSkew = 10 * time.Minute
)

// Key is one (token, EncodingAESKey) pair as configured in WeCom's admin
// console for the callback URL.
type Key struct {
	// Token is the signing token (WeCom: up to 32 letters and digits).
	Token string
	// EncodingAESKey is the 43-character key; base64decode(key + "=")
	// must be exactly 32 bytes.
	EncodingAESKey string
}

// Options configure a Crypto.
type Options struct {
	// Keys are tried in order: the current pair first, then pairs still
	// accepted during a rotation overlap. Seal uses Keys[0]. At least one.
	Keys []Key
	// ReceiveIDs are the receive ids accepted after decryption: the corpid
	// for a self-built app, the suite id for a third-party suite. Seal
	// writes ReceiveIDs[0]. At least one, none empty.
	ReceiveIDs []string
	// AgentID is written into the envelopes Seal produces; empty omits the
	// element (as WeCom does for some callbacks). Open ignores it.
	AgentID string
	// MaxBody limits an envelope body in bytes; 0 means DefaultMaxBody.
	MaxBody int
	// MaxEncrypt limits the Encrypt value and echostr in bytes; 0 means
	// DefaultMaxEncrypt.
	MaxEncrypt int
	// MaxSkew is CheckTimestamp's freshness window; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
}

func (o *Options) setDefaults() {
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxEncrypt == 0 {
		o.MaxEncrypt = DefaultMaxEncrypt
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = DefaultMaxSkew
	}
}

// Validate reports every problem with o (after defaults), joined; each wraps
// ErrBadConfig. Key material never appears in the messages.
func (o Options) Validate() error {
	var errs []error
	if len(o.Keys) == 0 {
		errs = append(errs, fmt.Errorf("no keys: %w", ErrBadConfig))
	}
	for i, k := range o.Keys {
		if k.Token == "" {
			errs = append(errs, fmt.Errorf("key %d: empty token: %w", i, ErrBadConfig))
		}
		if _, err := decodeAESKey(k.EncodingAESKey); err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i, err))
		}
	}
	if len(o.ReceiveIDs) == 0 {
		errs = append(errs, fmt.Errorf("no receive ids: %w", ErrBadConfig))
	}
	for i, id := range o.ReceiveIDs {
		if id == "" {
			errs = append(errs, fmt.Errorf("receive id %d empty: %w", i, ErrBadConfig))
		}
	}
	if o.MaxBody < 0 || o.MaxEncrypt < 0 || o.MaxSkew < 0 {
		errs = append(errs, fmt.Errorf("negative limit: %w", ErrBadConfig))
	}
	return errors.Join(errs...)
}

// Crypto verifies, decrypts and seals WeCom callbacks for one callback URL.
type Crypto struct {
	keys       []key
	receiveIDs []string
	agentID    string
	maxBody    int
	maxEncrypt int
	maxSkew    time.Duration
}

type key struct {
	token string
	aes   []byte // 32 bytes; the IV is aes[:16]
	block cipher.Block
}

// New builds a Crypto from o, or returns Validate's joined errors.
func New(o Options) (*Crypto, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c := &Crypto{
		receiveIDs: append([]string(nil), o.ReceiveIDs...),
		agentID:    o.AgentID,
		maxBody:    o.MaxBody,
		maxEncrypt: o.MaxEncrypt,
		maxSkew:    o.MaxSkew,
	}
	for _, k := range o.Keys {
		raw, _ := decodeAESKey(k.EncodingAESKey) // checked by Validate
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("callback: aes: %w", err)
		}
		c.keys = append(c.keys, key{token: k.Token, aes: raw, block: block})
	}
	return c, nil
}

// MaxBody is the body limit Open enforces, for an http.MaxBytesReader in
// front of it.
func (c *Crypto) MaxBody() int { return c.maxBody }

// decodeAESKey turns a 43-character EncodingAESKey into its 32 bytes.
// WeCom's own samples decode leniently (unused trailing bits ignored), and
// so does this.
func decodeAESKey(s string) ([]byte, error) {
	if len(s) != 43 {
		return nil, fmt.Errorf("EncodingAESKey must be 43 characters: %w", ErrBadConfig)
	}
	raw, err := base64.StdEncoding.DecodeString(s + "=")
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("EncodingAESKey is not base64 of 32 bytes: %w", ErrBadConfig)
	}
	return raw, nil
}
