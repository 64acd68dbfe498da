package projections

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrBadCursor is returned for a page cursor that this package did not
// produce (or that belongs to another listing).
var ErrBadCursor = errors.New("projections: bad page cursor")

// Page asks for one page of a listing.
type Page struct {
	// After is the Next cursor of the previous page; "" for the first page.
	After string
	// Limit is the page size; 0 means 50, at most 1000.
	Limit int
}

// Paged is one page of a listing in the listing's order.
type Paged[T any] struct {
	Items []T `json:"items"`
	// Next is the cursor of the following page; "" on the last page.
	Next string `json:"next,omitempty"`
}

const (
	defaultPageLimit = 50
	maxPageLimit     = 1000
	maxCursorLen     = 4096
)

// keys decodes p.After into exactly n keys ("" each for the first page) and
// returns the effective limit.
func (p Page) keys(n int) ([]string, int, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPageLimit
	}
	limit = min(limit, maxPageLimit)
	if p.After == "" {
		return make([]string, n), limit, nil
	}
	keys, err := decodeCursor(p.After)
	if err != nil {
		return nil, 0, err
	}
	if len(keys) != n {
		return nil, 0, fmt.Errorf("%w: want %d keys, got %d", ErrBadCursor, n, len(keys))
	}
	return keys, limit, nil
}

// encodeCursor turns the sort keys of a page's last row into an opaque
// cursor: URL-safe base64 of a JSON array of strings.
func encodeCursor(keys []string) string {
	b, _ := json.Marshal(keys) // []string always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reverses encodeCursor. It takes input from API clients, so
// it checks length, encoding and shape.
func decodeCursor(s string) ([]string, error) {
	if len(s) > maxCursorLen {
		return nil, fmt.Errorf("%w: too long", ErrBadCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrBadCursor)
	}
	for _, k := range keys {
		// PostgreSQL text cannot hold NUL or invalid UTF-8.
		if !utf8.ValidString(k) || containsNUL(k) {
			return nil, fmt.Errorf("%w: invalid key", ErrBadCursor)
		}
	}
	return keys, nil
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// paginate trims items fetched with limit+1 and sets Next from the last
// item kept.
func paginate[T any](items []T, limit int, key func(T) []string) Paged[T] {
	p := Paged[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.Next = encodeCursor(key(p.Items[limit-1]))
	}
	return p
}
