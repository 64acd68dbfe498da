package callback

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var sentinels = []error{ErrBadSignature, ErrBadPadding, ErrBadReceiveID, ErrMalformed, ErrTooLarge}

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

// FuzzOpen: arbitrary query values and bodies never panic and either open
// or fail with one of the sentinels.
func FuzzOpen(f *testing.F) {
	f.Add(samplePostSig, samplePostTS, samplePostNonce, []byte(samplePostBody))
	f.Add(samplePostSig, samplePostTS, samplePostNonce, []byte(`{"tousername":"x","encrypt":"`+samplePostEnc+`","agentid":1}`))
	f.Add(samplePostSig, samplePostTS, samplePostNonce, []byte("<!DOCTYPE x><xml><Encrypt>a</Encrypt></xml>"))
	f.Add("", "", "", []byte("<xml><Encrypt></Encrypt></xml>"))
	f.Add("x", "1", "2", []byte("{"))
	c := sampleCrypto(f)
	f.Fuzz(func(t *testing.T, sig, ts, nonce string, body []byte) {
		m, err := c.Open(sig, ts, nonce, body)
		if err != nil {
			checkSentinel(t, err)
			if m.Plaintext != nil {
				t.Fatal("plaintext with an error")
			}
			return
		}
		if m.ReceiveID != sampleCorpID {
			t.Fatalf("opened with receive id %q", m.ReceiveID)
		}
	})
}

// FuzzOpenSigned drives arbitrary plaintext blocks through the signed,
// decrypting path, so padding and layout parsing see every shape: never a
// panic, and a success only with a layout that really holds the message.
func FuzzOpenSigned(f *testing.F) {
	f.Add(pad32(layout(5, "hello", sampleCorpID)))
	f.Add(pad32(layout(0xffffffff, "hello", sampleCorpID)))
	f.Add(bytes.Repeat([]byte{32}, 32))
	f.Add([]byte{})
	c := sampleCrypto(f)
	f.Fuzz(func(t *testing.T, plain []byte) {
		plain = plain[:len(plain)/16*16]
		var enc string
		if len(plain) > 0 {
			enc = rawEncrypt(t, c, plain)
		}
		m, err := openSigned(c, enc)
		if err != nil {
			checkSentinel(t, err)
			return
		}
		p := int(plain[len(plain)-1])
		if 20+len(m.Plaintext)+len(sampleCorpID)+p != len(plain) ||
			!bytes.Equal(m.Plaintext, plain[20:20+len(m.Plaintext)]) {
			t.Fatalf("opened %d bytes from a %d-byte plaintext with pad %d", len(m.Plaintext), len(plain), p)
		}
	})
}

// FuzzSealOpen: whatever is sealed opens to itself, with any random
// prefix, timestamp and nonce.
func FuzzSealOpen(f *testing.F) {
	f.Add([]byte(samplePostPlain), []byte(samplePostRand), samplePostTS, samplePostNonce)
	f.Add([]byte{}, []byte("0123456789abcdef"), "", "")
	f.Add([]byte(strings.Repeat("m", 26)), make([]byte, 16), "1", "2")
	c := sampleCrypto(f)
	f.Fuzz(func(t *testing.T, msg, random []byte, ts, nonce string) {
		if len(random) < 16 {
			random = append(random, make([]byte, 16-len(random))...)
		}
		s, err := c.Seal(msg, ts, nonce, bytes.NewReader(random))
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Seal: %v", err)
			}
			return
		}
		m, err := c.Open(s.Signature, ts, nonce, s.Body)
		if err != nil || !bytes.Equal(m.Plaintext, msg) {
			t.Fatalf("Open(Seal(%q)) = %q, %v", msg, m.Plaintext, err)
		}
		got, err := c.VerifyURL(s.Signature, ts, nonce, s.Encrypt)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("VerifyURL(Seal(%q)) = %q, %v", msg, got, err)
		}
	})
}
