package callback

import (
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Message is an opened POST callback.
type Message struct {
	// Plaintext is the decrypted message: for events, the payload XML
	// (see package payload).
	Plaintext []byte
	// ReceiveID is the receive id found after the message (one of
	// Options.ReceiveIDs).
	ReceiveID string
	// Key is the index in Options.Keys of the pair that opened it: 0 for
	// the current pair, more while WeCom still uses a previous one.
	Key int
	// ToUserName and AgentID are copied from the envelope. They are not
	// covered by the signature; trust ReceiveID and the payload instead.
	ToUserName string
	AgentID    string
}

// Open verifies and decrypts a POST callback. msgSignature, timestamp and
// nonce are the query parameters (decoded once); body is the request body
// as received. The signature over the envelope's Encrypt is checked before
// anything is decrypted. Each key whose token matches is tried in order and
// the first that yields a well-formed plaintext with an accepted receive id
// wins; when none does, the error of the first matching key is returned.
// Open does not check freshness (CheckTimestamp) or duplicates.
func (c *Crypto) Open(msgSignature, timestamp, nonce string, body []byte) (Message, error) {
	if len(body) > c.maxBody {
		return Message{}, fmt.Errorf("body of %d bytes: %w", len(body), ErrTooLarge)
	}
	env, err := parseEnvelope(body)
	if err != nil {
		return Message{}, err
	}
	msg, receiveID, k, err := c.open(msgSignature, timestamp, nonce, env.encrypt)
	if err != nil {
		return Message{}, err
	}
	return Message{
		Plaintext:  msg,
		ReceiveID:  receiveID,
		Key:        k,
		ToUserName: env.toUserName,
		AgentID:    env.agentID,
	}, nil
}

// VerifyURL answers WeCom's URL check (GET): it verifies the signature over
// echostr, decrypts it, checks the receive id and returns the plaintext to
// send back as the bare response body, within one second. echostr must be
// the query value decoded exactly once (as url.ParseQuery does): decoding
// it again turns its '+' into spaces and breaks the signature.
func (c *Crypto) VerifyURL(msgSignature, timestamp, nonce, echostr string) ([]byte, error) {
	msg, _, _, err := c.open(msgSignature, timestamp, nonce, echostr)
	return msg, err
}

func (c *Crypto) open(msgSignature, timestamp, nonce, encrypt string) (msg []byte, receiveID string, keyIndex int, err error) {
	if len(encrypt) > c.maxEncrypt {
		return nil, "", 0, fmt.Errorf("encrypt of %d bytes: %w", len(encrypt), ErrTooLarge)
	}
	if encrypt == "" {
		return nil, "", 0, fmt.Errorf("empty encrypt: %w", ErrMalformed)
	}
	matched := c.signedBy(msgSignature, timestamp, nonce, encrypt)
	if len(matched) == 0 {
		return nil, "", 0, ErrBadSignature
	}
	ciphertext, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, "", 0, fmt.Errorf("encrypt is not base64: %w", ErrMalformed)
	}
	var first error
	for _, i := range matched {
		msg, receiveID, err := c.decrypt(c.keys[i], ciphertext)
		if err == nil {
			return msg, receiveID, i, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, "", 0, first
}

// decrypt undoes CBC, the 32-byte PKCS#7 padding and the
// random ‖ length ‖ message ‖ receiveid layout. It does not modify
// ciphertext.
func (c *Crypto) decrypt(k key, ciphertext []byte) ([]byte, string, error) {
	if len(ciphertext) == 0 || len(ciphertext)%k.block.BlockSize() != 0 {
		return nil, "", fmt.Errorf("ciphertext of %d bytes is not whole blocks: %w", len(ciphertext), ErrMalformed)
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(k.block, k.aes[:16]).CryptBlocks(plain, ciphertext)
	plain, err := unpad(plain)
	if err != nil {
		return nil, "", err
	}
	if len(plain) < randomLen+4 {
		return nil, "", fmt.Errorf("plaintext shorter than its header: %w", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(plain[randomLen:])
	rest := plain[randomLen+4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, "", fmt.Errorf("length field exceeds plaintext: %w", ErrMalformed)
	}
	msg, receiveID := rest[:n], string(rest[n:])
	if !c.acceptsReceiveID(receiveID) {
		return nil, "", ErrBadReceiveID
	}
	return msg, receiveID, nil
}

func (c *Crypto) acceptsReceiveID(id string) bool {
	for _, want := range c.receiveIDs {
		if id == want {
			return true
		}
	}
	return false
}

const (
	// randomLen is the length of the random prefix of every plaintext.
	randomLen = 16
	// padBlock is WeCom's PKCS#7 block size: 32, not AES's 16.
	padBlock = 32
)

// unpad strips PKCS#7 padding to 32-byte blocks: the last byte p must be
// 1..32, at most the length, and the last p bytes must all equal p. The
// ciphertext is authenticated by the signature before this runs, so there
// is no padding oracle to hide; the check catches a wrong key or a broken
// sender. A plaintext that is whole AES blocks but not whole 32-byte blocks
// is still accepted when its padding is consistent.
func unpad(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty plaintext: %w", ErrBadPadding)
	}
	p := int(b[len(b)-1])
	if p < 1 || p > padBlock || p > len(b) {
		return nil, fmt.Errorf("pad value %d: %w", p, ErrBadPadding)
	}
	for _, v := range b[len(b)-p:] {
		if int(v) != p {
			return nil, fmt.Errorf("inconsistent pad bytes: %w", ErrBadPadding)
		}
	}
	return b[:len(b)-p], nil
}
