package callback

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"
)

// Signature is WeCom's msg_signature: the lowercase hex SHA-1 of token,
// timestamp, nonce and encrypt, sorted byte-wise and concatenated.
func Signature(token, timestamp, nonce, encrypt string) string {
	parts := []string{token, timestamp, nonce, encrypt}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// signedBy returns the indexes of the keys whose token signs encrypt with
// msgSignature, in configuration order. The comparison is constant-time;
// upper-case hex in msgSignature is accepted.
func (c *Crypto) signedBy(msgSignature, timestamp, nonce, encrypt string) []int {
	got := []byte(strings.ToLower(msgSignature))
	var idx []int
	for i, k := range c.keys {
		want := Signature(k.token, timestamp, nonce, encrypt)
		if subtle.ConstantTimeCompare(got, []byte(want)) == 1 {
			idx = append(idx, i)
		}
	}
	return idx
}
