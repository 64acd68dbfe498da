package export

import "unicode/utf8"

// appendCompact appends v without insignificant whitespace and reports
// whether v is one valid JSON value (RFC 8259; trailing whitespace
// allowed). On false, what it appended must be discarded. It does the work
// of json.Valid plus json.Compact in one pass without encoding/json's
// per-byte state function calls, which made compaction the export's
// largest cost: PostgreSQL's jsonb text puts a space after every ':' and ','.
func appendCompact(dst, v []byte) ([]byte, bool) {
	c := compactor{in: v, out: dst}
	c.space()
	if !c.value(0) {
		return dst, false
	}
	c.space()
	if c.i != len(c.in) {
		return dst, false
	}
	return c.out, true
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 10_000

type compactor struct {
	in  []byte
	i   int
	out []byte
}

func (c *compactor) space() {
	for c.i < len(c.in) {
		switch c.in[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *compactor) value(depth int) bool {
	if c.i >= len(c.in) || depth > maxDepth {
		return false
	}
	switch b := c.in[c.i]; {
	case b == '{':
		return c.object(depth)
	case b == '[':
		return c.array(depth)
	case b == '"':
		return c.str()
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	}
	return false
}

func (c *compactor) literal(lit string) bool {
	if len(c.in)-c.i < len(lit) || string(c.in[c.i:c.i+len(lit)]) != lit {
		return false
	}
	c.out = append(c.out, lit...)
	c.i += len(lit)
	return true
}

func (c *compactor) object(depth int) bool {
	c.out = append(c.out, '{')
	c.i++
	c.space()
	if c.i < len(c.in) && c.in[c.i] == '}' {
		c.out = append(c.out, '}')
		c.i++
		return true
	}
	for {
		c.space()
		if c.i >= len(c.in) || c.in[c.i] != '"' || !c.str() {
			return false
		}
		c.space()
		if c.i >= len(c.in) || c.in[c.i] != ':' {
			return false
		}
		c.out = append(c.out, ':')
		c.i++
		c.space()
		if !c.value(depth + 1) {
			return false
		}
		c.space()
		if c.i >= len(c.in) {
			return false
		}
		switch c.in[c.i] {
		case ',':
			c.out = append(c.out, ',')
			c.i++
		case '}':
			c.out = append(c.out, '}')
			c.i++
			return true
		default:
			return false
		}
	}
}

func (c *compactor) array(depth int) bool {
	c.out = append(c.out, '[')
	c.i++
	c.space()
	if c.i < len(c.in) && c.in[c.i] == ']' {
		c.out = append(c.out, ']')
		c.i++
		return true
	}
	for {
		c.space()
		if !c.value(depth + 1) {
			return false
		}
		c.space()
		if c.i >= len(c.in) {
			return false
		}
		switch c.in[c.i] {
		case ',':
			c.out = append(c.out, ',')
			c.i++
		case ']':
			c.out = append(c.out, ']')
			c.i++
			return true
		default:
			return false
		}
	}
}

// str copies a string token verbatim after checking it: no raw control
// characters, valid escapes, valid UTF-8 (so a line never carries bytes a
// strict reader rejects).
func (c *compactor) str() bool {
	start := c.i
	c.i++ // opening quote
	for c.i < len(c.in) {
		b := c.in[c.i]
		switch {
		case b == '"':
			c.i++
			c.out = append(c.out, c.in[start:c.i]...)
			return true
		case b == '\\':
			if c.i+1 >= len(c.in) {
				return false
			}
			switch c.in[c.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				if c.i+6 > len(c.in) {
					return false
				}
				for _, h := range c.in[c.i+2 : c.i+6] {
					if !isHex(h) {
						return false
					}
				}
				c.i += 6
			default:
				return false
			}
		case b < 0x20:
			return false
		case b < utf8.RuneSelf:
			c.i++
		default:
			r, n := utf8.DecodeRune(c.in[c.i:])
			if r == utf8.RuneError && n == 1 {
				return false
			}
			c.i += n
		}
	}
	return false
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// number checks the RFC 8259 number grammar and copies the token.
func (c *compactor) number() bool {
	start := c.i
	if c.in[c.i] == '-' {
		c.i++
	}
	if c.i >= len(c.in) {
		return false
	}
	switch {
	case c.in[c.i] == '0':
		c.i++
	case c.in[c.i] >= '1' && c.in[c.i] <= '9':
		c.digits()
	default:
		return false
	}
	if c.i < len(c.in) && c.in[c.i] == '.' {
		c.i++
		if !c.digits() {
			return false
		}
	}
	if c.i < len(c.in) && (c.in[c.i] == 'e' || c.in[c.i] == 'E') {
		c.i++
		if c.i < len(c.in) && (c.in[c.i] == '+' || c.in[c.i] == '-') {
			c.i++
		}
		if !c.digits() {
			return false
		}
	}
	c.out = append(c.out, c.in[start:c.i]...)
	return true
}

// digits consumes one or more digits.
func (c *compactor) digits() bool {
	start := c.i
	for c.i < len(c.in) && c.in[c.i] >= '0' && c.in[c.i] <= '9' {
		c.i++
	}
	return c.i > start
}
