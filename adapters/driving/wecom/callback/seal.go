package callback

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Sealed is a message encrypted and signed the way WeCom sends it.
type Sealed struct {
	// Encrypt is the base64 ciphertext: the envelope's Encrypt, or the
	// echostr of a URL check.
	Encrypt string
	// Signature is msg_signature over Timestamp, Nonce and Encrypt.
	Signature string
	Timestamp string
	Nonce     string
	// Body is the XML envelope
	// <xml><ToUserName>…</ToUserName><Encrypt>…</Encrypt><AgentID>…</AgentID></xml>
	// in WeCom's layout (CDATA sections, no whitespace); AgentID only when
	// Options.AgentID is set.
	Body []byte
}

// Seal encrypts plaintext for Options.ReceiveIDs[0] under Options.Keys[0]:
// 16 bytes read from random (crypto/rand when nil) ‖ big-endian length ‖
// plaintext ‖ receive id, PKCS#7-padded to 32-byte blocks, AES-256-CBC with
// IV = key[:16], base64, signed with the token. With the random prefix
// fixed it is deterministic, which the tests use to reproduce WeCom's
// sample byte for byte. It refuses (ErrTooLarge) what Open would refuse for
// size, so Open(Seal(m)) returns m.
func (c *Crypto) Seal(plaintext []byte, timestamp, nonce string, random io.Reader) (Sealed, error) {
	if random == nil {
		random = rand.Reader
	}
	k := c.keys[0]
	receiveID := c.receiveIDs[0]
	n := randomLen + 4 + len(plaintext) + len(receiveID)
	padded := n + padBlock - n%padBlock
	if base64.StdEncoding.EncodedLen(padded) > c.maxEncrypt {
		return Sealed{}, fmt.Errorf("plaintext of %d bytes: %w", len(plaintext), ErrTooLarge)
	}
	buf := make([]byte, padded)
	if _, err := io.ReadFull(random, buf[:randomLen]); err != nil {
		return Sealed{}, fmt.Errorf("callback: random prefix: %w", err)
	}
	binary.BigEndian.PutUint32(buf[randomLen:], uint32(len(plaintext)))
	copy(buf[randomLen+4:], plaintext)
	copy(buf[randomLen+4+len(plaintext):], receiveID)
	pad := byte(padded - n)
	for i := n; i < padded; i++ {
		buf[i] = pad
	}
	cipher.NewCBCEncrypter(k.block, k.aes[:16]).CryptBlocks(buf, buf)
	s := Sealed{
		Encrypt:   base64.StdEncoding.EncodeToString(buf),
		Timestamp: timestamp,
		Nonce:     nonce,
	}
	s.Signature = Signature(k.token, timestamp, nonce, s.Encrypt)
	var b bytes.Buffer
	b.WriteString("<xml><ToUserName>")
	writeCDATA(&b, receiveID)
	b.WriteString("</ToUserName><Encrypt>")
	writeCDATA(&b, s.Encrypt)
	b.WriteString("</Encrypt>")
	if c.agentID != "" {
		b.WriteString("<AgentID>")
		writeCDATA(&b, c.agentID)
		b.WriteString("</AgentID>")
	}
	b.WriteString("</xml>")
	s.Body = b.Bytes()
	if len(s.Body) > c.maxBody {
		return Sealed{}, fmt.Errorf("envelope of %d bytes: %w", len(s.Body), ErrTooLarge)
	}
	return s, nil
}

// writeCDATA writes s as CDATA, splitting any "]]>" inside it across two
// sections so configuration text cannot break the envelope.
func writeCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}
