package export

import (
	"io"

	"github.com/parquet-go/parquet-go"
)

// parquetWriter writes one Parquet file of Rows, Snappy-compressed. A row
// group is flushed every rowGroupSize rows, which is what bounds its memory.
type parquetWriter struct {
	w *parquet.GenericWriter[Row]
}

func newParquetWriter(w io.Writer, rowGroupSize int) *parquetWriter {
	return &parquetWriter{w: parquet.NewGenericWriter[Row](w,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(int64(rowGroupSize)),
		parquet.CreatedBy("custody", "1", ""),
	)}
}

func (p *parquetWriter) write(rows []Row) error {
	_, err := p.w.Write(rows)
	return err
}

func (p *parquetWriter) close() error { return p.w.Close() }
