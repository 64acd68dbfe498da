package export

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// csvWriter writes RFC 4180 CSV with a header row. data and pii are JSON
// text in their cells; pii is empty when null.
type csvWriter struct {
	w      *csv.Writer
	header bool
	rec    []string
}

func newCSVWriter(w io.Writer) *csvWriter {
	return &csvWriter{w: csv.NewWriter(w), rec: make([]string, len(Columns))}
}

func (c *csvWriter) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	return c.w.Write(Columns)
}

func (c *csvWriter) write(rows []Row) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		rec := c.rec
		rec[0] = r.EventID
		rec[1] = r.Type
		rec[2] = strconv.Itoa(int(r.SchemaVersion))
		rec[3] = r.CorpID
		rec[4] = r.Stream
		rec[5] = strconv.FormatInt(r.StreamVersion, 10)
		rec[6] = strconv.FormatInt(r.PositionCommit, 10)
		rec[7] = strconv.FormatInt(r.PositionPrepare, 10)
		rec[8] = r.OccurredAt.Format(time.RFC3339Nano)
		rec[9] = r.RecordedAt.Format(time.RFC3339Nano)
		rec[10] = r.Actor
		rec[11] = r.CommandID
		rec[12] = r.CorrelationID
		rec[13] = r.CausationID
		rec[14] = r.Subject
		rec[15] = string(r.Data)
		rec[16] = r.PII
		rec[17] = strconv.FormatBool(r.PIIErased)
		if err := c.w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// close writes the header of an empty export too, so the file always says
// what its columns are.
func (c *csvWriter) close() error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}
