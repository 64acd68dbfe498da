package callback

import (
	"bytes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	testTS    = "1700000000"
	testNonce = "42"
)

// rawDecrypt undoes base64 and CBC only, leaving the padding in place.
func rawDecrypt(t testing.TB, c *Crypto, enc string) []byte {
	t.Helper()
	ct, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	k := c.keys[0]
	cipher.NewCBCDecrypter(k.block, k.aes[:16]).CryptBlocks(ct, ct)
	return ct
}

// rawEncrypt encrypts whole AES blocks exactly as given (no layout, no
// padding) with the first key.
func rawEncrypt(t testing.TB, c *Crypto, plain []byte) string {
	t.Helper()
	if len(plain)%16 != 0 {
		t.Fatalf("rawEncrypt: %d bytes", len(plain))
	}
	k := c.keys[0]
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(k.block, k.aes[:16]).CryptBlocks(ct, plain)
	return base64.StdEncoding.EncodeToString(ct)
}

// layout builds random ‖ length ‖ msg ‖ receiveID with the given length
// field, unpadded.
func layout(length uint32, msg, receiveID string) []byte {
	b := make([]byte, 20, 20+len(msg)+len(receiveID)+32)
	copy(b, "0123456789abcdef")
	binary.BigEndian.PutUint32(b[16:], length)
	b = append(b, msg...)
	return append(b, receiveID...)
}

func pad32(b []byte) []byte {
	p := 32 - len(b)%32
	return append(b, bytes.Repeat([]byte{byte(p)}, p)...)
}

// openSigned signs encrypt with the first token and opens it as a POST.
func openSigned(c *Crypto, encrypt string) (Message, error) {
	sig := Signature(c.keys[0].token, testTS, testNonce, encrypt)
	body := "<xml><ToUserName><![CDATA[x]]></ToUserName><Encrypt><![CDATA[" + encrypt + "]]></Encrypt></xml>"
	return c.Open(sig, testTS, testNonce, []byte(body))
}

func TestOpenRejects(t *testing.T) {
	c := sampleCrypto(t)
	good := layout(5, "hello", sampleCorpID)
	tests := []struct {
		name    string
		encrypt func() string
		want    error
	}{
		{"empty encrypt", func() string { return "" }, ErrMalformed},
		{"not base64", func() string { return "!!!not base64!!!" }, ErrMalformed},
		{"truncated, not whole blocks", func() string {
			ct, _ := base64.StdEncoding.DecodeString(rawEncrypt(t, c, pad32(good)))
			return base64.StdEncoding.EncodeToString(ct[:len(ct)-5])
		}, ErrMalformed},
		{"pad 0", func() string {
			b := pad32(good)
			b[len(b)-1] = 0
			return rawEncrypt(t, c, b)
		}, ErrBadPadding},
		{"pad 33", func() string {
			b := append(pad32(good), bytes.Repeat([]byte{33}, 32)...)
			return rawEncrypt(t, c, b)
		}, ErrBadPadding},
		{"pad bytes inconsistent", func() string {
			b := pad32(good)
			p := int(b[len(b)-1])
			if p < 2 {
				t.Fatalf("need a pad of at least 2, got %d", p)
			}
			b[len(b)-p] ^= 0xff
			return rawEncrypt(t, c, b)
		}, ErrBadPadding},
		{"pad longer than plaintext", func() string {
			return rawEncrypt(t, c, bytes.Repeat([]byte{32}, 16))
		}, ErrBadPadding},
		{"shorter than header", func() string {
			return rawEncrypt(t, c, pad32([]byte("0123456789abcdef12")))
		}, ErrMalformed},
		{"length field past the end", func() string {
			return rawEncrypt(t, c, pad32(layout(uint32(5+len(sampleCorpID)+1), "hello", sampleCorpID)))
		}, ErrMalformed},
		{"length field huge", func() string {
			return rawEncrypt(t, c, pad32(layout(0xffffffff, "hello", sampleCorpID)))
		}, ErrMalformed},
		{"length field swallows receive id", func() string {
			return rawEncrypt(t, c, pad32(layout(uint32(5+len(sampleCorpID)), "hello", sampleCorpID)))
		}, ErrBadReceiveID},
		{"length field short", func() string {
			return rawEncrypt(t, c, pad32(layout(4, "hello", sampleCorpID)))
		}, ErrBadReceiveID},
		{"foreign receive id", func() string {
			return rawEncrypt(t, c, pad32(layout(5, "hello", "wwOtherCorp")))
		}, ErrBadReceiveID},
		{"too large", func() string { return strings.Repeat("A", DefaultMaxEncrypt+4) }, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := openSigned(c, tc.encrypt())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if m.Plaintext != nil {
				t.Fatalf("plaintext returned with an error")
			}
		})
	}
	// The control: the same construction with correct fields opens.
	m, err := openSigned(c, rawEncrypt(t, c, pad32(good)))
	if err != nil || string(m.Plaintext) != "hello" {
		t.Fatalf("control: %q, %v", m.Plaintext, err)
	}
}

func TestOpenBadSignature(t *testing.T) {
	c := sampleCrypto(t)
	body := []byte(samplePostBody)
	flipped := []byte(samplePostSig)
	flipped[0] = '0'
	for name, args := range map[string][3]string{
		"flipped digit": {string(flipped), samplePostTS, samplePostNonce},
		"empty":         {"", samplePostTS, samplePostNonce},
		"other nonce":   {samplePostSig, samplePostTS, "1"},
		"other time":    {samplePostSig, "1409659814", samplePostNonce},
		"other token":   {Signature("other", samplePostTS, samplePostNonce, samplePostEnc), samplePostTS, samplePostNonce},
	} {
		if _, err := c.Open(args[0], args[1], args[2], body); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", name, err)
		}
	}
	// Upper-case hex is the same signature.
	if _, err := c.Open(strings.ToUpper(samplePostSig), samplePostTS, samplePostNonce, body); err != nil {
		t.Errorf("upper-case signature: %v", err)
	}
	// A modified Encrypt no longer matches the signature; nothing is decrypted.
	tampered := strings.Replace(samplePostBody, "RypE", "RypF", 1)
	if _, err := c.Open(samplePostSig, samplePostTS, samplePostNonce, []byte(tampered)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered encrypt: err = %v", err)
	}
	if _, err := c.VerifyURL(sampleGetSig, sampleGetTS, sampleGetNonce+"0", sampleEchostr); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyURL: err = %v", err)
	}
}

func TestOpenWrongReceiveID(t *testing.T) {
	c := sampleCrypto(t, func(o *Options) { o.ReceiveIDs = []string{"wwSomeOtherCorp"} })
	if _, err := c.Open(samplePostSig, samplePostTS, samplePostNonce, []byte(samplePostBody)); !errors.Is(err, ErrBadReceiveID) {
		t.Errorf("Open: err = %v, want ErrBadReceiveID", err)
	}
	if _, err := c.VerifyURL(sampleGetSig, sampleGetTS, sampleGetNonce, sampleEchostr); !errors.Is(err, ErrBadReceiveID) {
		t.Errorf("VerifyURL: err = %v, want ErrBadReceiveID", err)
	}
	// A list of receive ids: a suite id accepted next to the corpid.
	c = sampleCrypto(t, func(o *Options) { o.ReceiveIDs = []string{"wwSuite", sampleCorpID} })
	m, err := c.Open(samplePostSig, samplePostTS, samplePostNonce, []byte(samplePostBody))
	if err != nil || m.ReceiveID != sampleCorpID {
		t.Errorf("second receive id: %+v, %v", m, err)
	}
}

// A plaintext whose layout fills its last 32-byte block exactly gets a full
// block of 32 bytes of 0x20, which must open (libraries that pad to 16
// break here).
func TestFullBlockPadding(t *testing.T) {
	c := sampleCrypto(t)
	msg := strings.Repeat("m", 64-20-len(sampleCorpID))
	s, err := c.Seal([]byte(msg), testTS, testNonce, strings.NewReader("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDecrypt(t, c, s.Encrypt)
	if len(raw) != 96 || !bytes.Equal(raw[64:], bytes.Repeat([]byte{0x20}, 32)) {
		t.Fatalf("raw plaintext %d bytes ending %x, want 96 ending in 32×0x20", len(raw), raw[len(raw)-32:])
	}
	m, err := c.Open(s.Signature, testTS, testNonce, s.Body)
	if err != nil || string(m.Plaintext) != msg {
		t.Fatalf("Open: %q, %v", m.Plaintext, err)
	}
}

// Every pad value 1..32 is produced by some length and opens again.
func TestSealOpenEveryPad(t *testing.T) {
	c := sampleCrypto(t)
	seen := map[byte]bool{}
	for n := 0; n < 64; n++ {
		msg := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		s, err := c.Seal(msg, testTS, testNonce, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw := rawDecrypt(t, c, s.Encrypt)
		if len(raw)%32 != 0 {
			t.Fatalf("n=%d: plaintext of %d bytes is not whole 32-byte blocks", n, len(raw))
		}
		seen[raw[len(raw)-1]] = true
		m, err := c.Open(s.Signature, s.Timestamp, s.Nonce, s.Body)
		if err != nil || !bytes.Equal(m.Plaintext, msg) {
			t.Fatalf("n=%d: %q, %v", n, m.Plaintext, err)
		}
	}
	for p := byte(1); p <= 32; p++ {
		if !seen[p] {
			t.Errorf("pad %d never produced", p)
		}
	}
}

func TestEnvelope(t *testing.T) {
	c := sampleCrypto(t)
	enc := samplePostEnc
	tests := []struct {
		name  string
		body  string
		want  error
		agent string
	}{
		{"official", samplePostBody, nil, "218"},
		{"no AgentID, no CDATA", "<xml><ToUserName>wx5823bf96d3bd56c7</ToUserName><Encrypt>" + enc + "</Encrypt></xml>", nil, ""},
		{"whitespace and xml declaration", "<?xml version=\"1.0\"?>\n<xml>\n  <Encrypt>\n" + enc + "\n</Encrypt>\n  <AgentID>7</AgentID>\n</xml>\n", nil, "7"},
		{"unknown elements skipped", "<xml><Foo><Bar>1</Bar></Foo><Encrypt>" + enc + "</Encrypt></xml>", nil, ""},
		{"json", `{"tousername":"wx5823bf96d3bd56c7","encrypt":"` + enc + `","agentid":218}`, nil, "218"},
		{"json string agentid", ` {"encrypt":"` + enc + `","agentid":"218"}`, nil, "218"},
		{"json without agentid", `{"encrypt":"` + enc + `"}`, nil, ""},
		{"json without encrypt", `{"tousername":"x"}`, ErrMalformed, ""},
		{"json trailing data", `{"encrypt":"` + enc + `"} {}`, ErrMalformed, ""},
		{"json broken", `{"encrypt":`, ErrMalformed, ""},
		{"no Encrypt", "<xml><ToUserName>x</ToUserName></xml>", ErrMalformed, ""},
		{"repeated Encrypt", "<xml><Encrypt>" + enc + "</Encrypt><Encrypt>" + enc + "</Encrypt></xml>", ErrMalformed, ""},
		{"nested in Encrypt", "<xml><Encrypt><x>" + enc + "</x></Encrypt></xml>", ErrMalformed, ""},
		{"wrong root", "<root><Encrypt>" + enc + "</Encrypt></root>", ErrMalformed, ""},
		{"two roots", "<xml><Encrypt>" + enc + "</Encrypt></xml><xml></xml>", ErrMalformed, ""},
		{"unclosed", "<xml><Encrypt>" + enc + "</Encrypt>", ErrMalformed, ""},
		{"empty body", "", ErrMalformed, ""},
		{"not xml", "hello", ErrMalformed, ""},
		{"doctype", "<!DOCTYPE xml [<!ENTITY e \"" + enc + "\">]><xml><Encrypt>&e;</Encrypt></xml>", ErrMalformed, ""},
		{"external entity", "<!DOCTYPE xml [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><Encrypt>" + enc + "</Encrypt><ToUserName>&e;</ToUserName></xml>", ErrMalformed, ""},
		{"undefined entity", "<xml><Encrypt>" + enc + "</Encrypt><ToUserName>&e;</ToUserName></xml>", ErrMalformed, ""},
		{"too large", "<xml><Encrypt>" + enc + "</Encrypt><Pad>" + strings.Repeat("x", DefaultMaxBody) + "</Pad></xml>", ErrTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := c.Open(samplePostSig, samplePostTS, samplePostNonce, []byte(tc.body))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			if string(m.Plaintext) != samplePostPlain || m.AgentID != tc.agent {
				t.Fatalf("message = %q agent %q", m.Plaintext, m.AgentID)
			}
		})
	}
}

// A deeply nested unknown element inside the size limit is skipped without
// recursion (encoding/xml and Skip are iterative).
func TestEnvelopeDeepNesting(t *testing.T) {
	c := sampleCrypto(t)
	depth := (DefaultMaxBody - len(samplePostEnc) - 100) / 7
	body := "<xml>" + strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth) + "<Encrypt>" + samplePostEnc + "</Encrypt></xml>"
	if len(body) > DefaultMaxBody {
		t.Fatalf("test body of %d bytes exceeds the limit", len(body))
	}
	m, err := c.Open(samplePostSig, samplePostTS, samplePostNonce, []byte(body))
	if err != nil || string(m.Plaintext) != samplePostPlain {
		t.Fatalf("Open: %v", err)
	}
}

var errDecrypt = errors.New("any decryption error")

func TestKeyRotation(t *testing.T) {
	const (
		oldKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		newKey = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
	)
	seal := func(token, aesKey string) Sealed {
		c, err := New(Options{Keys: []Key{{token, aesKey}}, ReceiveIDs: []string{"ww1"}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Seal([]byte("event"), testTS, testNonce, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		keys     []Key
		sealWith Key
		wantKey  int
		wantErr  error
	}{
		{"same token, old aes key", []Key{{"tok", newKey}, {"tok", oldKey}}, Key{"tok", oldKey}, 1, nil},
		{"same token, new aes key", []Key{{"tok", newKey}, {"tok", oldKey}}, Key{"tok", newKey}, 0, nil},
		{"old token and key", []Key{{"new", newKey}, {"old", oldKey}}, Key{"old", oldKey}, 1, nil},
		{"old token, new key", []Key{{"new", newKey}, {"old", oldKey}}, Key{"old", newKey}, 0, errDecrypt},
		{"retired pair", []Key{{"new", newKey}}, Key{"old", oldKey}, 0, ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Options{Keys: tc.keys, ReceiveIDs: []string{"ww1"}})
			if err != nil {
				t.Fatal(err)
			}
			s := seal(tc.sealWith.Token, tc.sealWith.EncodingAESKey)
			m, err := c.Open(s.Signature, s.Timestamp, s.Nonce, s.Body)
			switch {
			case tc.wantErr == errDecrypt:
				// The signature matched a token whose AES key is not the
				// one used: garbage, refused by the padding, layout or
				// receive id check, never by the signature.
				if err == nil || errors.Is(err, ErrBadSignature) {
					t.Fatalf("err = %v, want a decryption error", err)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(m.Plaintext) != "event" || m.Key != tc.wantKey {
				t.Fatalf("got %q key %d, %v; want key %d", m.Plaintext, m.Key, err, tc.wantKey)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	good := Key{sampleToken, sampleAESKey}
	for name, o := range map[string]Options{
		"no keys":         {ReceiveIDs: []string{"x"}},
		"empty token":     {Keys: []Key{{"", sampleAESKey}}, ReceiveIDs: []string{"x"}},
		"key 42 chars":    {Keys: []Key{{"t", sampleAESKey[:42]}}, ReceiveIDs: []string{"x"}},
		"key 44 chars":    {Keys: []Key{{"t", sampleAESKey + "A"}}, ReceiveIDs: []string{"x"}},
		"key not base64":  {Keys: []Key{{"t", "!" + sampleAESKey[1:]}}, ReceiveIDs: []string{"x"}},
		"no receive ids":  {Keys: []Key{good}},
		"empty receiveid": {Keys: []Key{good}, ReceiveIDs: []string{""}},
		"negative limit":  {Keys: []Key{good}, ReceiveIDs: []string{"x"}, MaxBody: -1},
	} {
		_, err := New(o)
		if !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: err = %v, want ErrBadConfig", name, err)
			continue
		}
		if strings.Contains(err.Error(), sampleAESKey[:20]) {
			t.Errorf("%s: error reveals the key: %v", name, err)
		}
	}
	// Every problem is reported, not just the first.
	_, err := New(Options{Keys: []Key{{"", "short"}}})
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("want 3 joined problems, got %d: %v", n, err)
	}
}

func TestCheckTimestamp(t *testing.T) {
	c := sampleCrypto(t)
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		ts   string
		want error
	}{
		{"1700000000", nil},
		{fmt.Sprint(1700000000 - 600), nil},
		{fmt.Sprint(1700000000 + 600), nil},
		{fmt.Sprint(1700000000 - 601), ErrStale},
		{fmt.Sprint(1700000000 + 601), ErrStale},
		{"0", ErrStale},
		{"999999999999", ErrStale},
		{"", ErrMalformed},
		{"-1700000000", ErrMalformed},
		{"+1700000000", ErrMalformed},
		{" 1700000000", ErrMalformed},
		{"1700000000.5", ErrMalformed},
		{"1700000000000", ErrMalformed},
	} {
		if err := c.CheckTimestamp(tc.ts, now); !errors.Is(err, tc.want) {
			t.Errorf("CheckTimestamp(%q) = %v, want %v", tc.ts, err, tc.want)
		}
	}
	narrow := sampleCrypto(t, func(o *Options) { o.MaxSkew = 5 * time.Minute })
	if err := narrow.CheckTimestamp(fmt.Sprint(1700000000-301), now); !errors.Is(err, ErrStale) {
		t.Errorf("MaxSkew 5m: err = %v, want ErrStale", err)
	}
}

func TestSealRefusesWhatOpenWould(t *testing.T) {
	c := sampleCrypto(t, func(o *Options) { o.MaxEncrypt = 1024 })
	if _, err := c.Seal(make([]byte, 1024), testTS, testNonce, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Seal oversize: err = %v, want ErrTooLarge", err)
	}
	if _, err := c.Seal([]byte("x"), testTS, testNonce, strings.NewReader("short")); err == nil {
		t.Error("Seal with a short random source succeeded")
	}
}

// Configuration text with "]]>" cannot break the sealed envelope.
func TestSealEscapesCDATA(t *testing.T) {
	c := sampleCrypto(t, func(o *Options) { o.AgentID = "1]]><Encrypt>x</Encrypt><![CDATA[" })
	s, err := c.Seal([]byte("event"), testTS, testNonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Open(s.Signature, testTS, testNonce, s.Body)
	if err != nil || m.AgentID != "1]]><Encrypt>x</Encrypt><![CDATA[" {
		t.Fatalf("Open: %+v, %v", m, err)
	}
}
