package projections

import "github.com/jackc/pgx/v5"

// NewWriter returns a Writer that queues into b the statements of
// projections whose tables live in schema. It is the hook for building
// projections outside a Runner — adapters/tools/replay builds every projection as
// of a time into a schema of its own with it: apply each Projection's
// Migrations with {s} set to that schema, then call Apply with a Writer
// from NewWriter for each event and run it with Writer.Send in a
// transaction (b alone holds only the statement projections' statements:
// the fold projections' rows are folded and written by Send).
func NewWriter(schema string, b *pgx.Batch) *Writer { return newWriter(schema, b) }
