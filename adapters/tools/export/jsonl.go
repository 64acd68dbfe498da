package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonlWriter writes one JSON object per line. It encodes by hand, appending
// to one reused buffer, because reflection-based encoding would dominate the
// export's cost; data and pii are embedded as JSON values, not strings.
type jsonlWriter struct {
	w       *bufio.Writer
	buf     []byte
	compact bytes.Buffer // reused by appendJSONValue
}

func newJSONLWriter(w io.Writer) *jsonlWriter {
	return &jsonlWriter{w: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 0, 4096)}
}

func (j *jsonlWriter) write(rows []Row) error {
	for i := range rows {
		j.buf = j.appendRow(j.buf[:0], &rows[i])
		if _, err := j.w.Write(j.buf); err != nil {
			return err
		}
	}
	return nil
}

func (j *jsonlWriter) close() error { return j.w.Flush() }

func (j *jsonlWriter) appendRow(b []byte, r *Row) []byte {
	b = append(b, `{"event_id":`...)
	b = appendJSONString(b, r.EventID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, r.Type)
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendInt(b, int64(r.SchemaVersion), 10)
	b = append(b, `,"corp_id":`...)
	b = appendJSONString(b, r.CorpID)
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, r.Stream)
	b = append(b, `,"stream_version":`...)
	b = strconv.AppendInt(b, r.StreamVersion, 10)
	b = append(b, `,"position_commit":`...)
	b = strconv.AppendInt(b, r.PositionCommit, 10)
	b = append(b, `,"position_prepare":`...)
	b = strconv.AppendInt(b, r.PositionPrepare, 10)
	b = append(b, `,"occurred_at":"`...)
	b = r.OccurredAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","recorded_at":"`...)
	b = r.RecordedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","actor":`...)
	b = appendJSONString(b, r.Actor)
	b = append(b, `,"command_id":`...)
	b = appendJSONString(b, r.CommandID)
	b = append(b, `,"correlation_id":`...)
	b = appendJSONString(b, r.CorrelationID)
	b = append(b, `,"causation_id":`...)
	b = appendJSONString(b, r.CausationID)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, r.Subject)
	b = append(b, `,"data":`...)
	b = j.appendJSONValue(b, r.Data)
	b = append(b, `,"pii":`...)
	b = j.appendJSONString(b, r.PII)
	b = append(b, `,"pii_erased":`...)
	b = strconv.AppendBool(b, r.PIIErased)
	return append(b, "}\n"...)
}

// appendJSONValue embeds v as a JSON value on one line: null when empty,
// compacted when it is valid JSON (stored JSON may hold newlines, and
// PostgreSQL's jsonb text has spaces), and as a JSON string otherwise so that
// every line stays valid JSON.
func (j *jsonlWriter) appendJSONValue(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	j.compact.Reset()
	if err := json.Compact(&j.compact, v); err == nil {
		return append(b, j.compact.Bytes()...)
	}
	return appendJSONString(b, string(v))
}

// appendJSONString is appendJSONValue for JSON held in a string.
func (j *jsonlWriter) appendJSONString(b []byte, v string) []byte {
	if v == "" {
		return append(b, "null"...)
	}
	return j.appendJSONValue(b, []byte(v))
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping like encoding/json
// (without HTML escaping) and replacing invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
