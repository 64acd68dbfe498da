-- A fold projection may be applied in partitions (see partition.go): P
-- units, each applying the keys that hash to it, with its own checkpoint
-- row and lease. parts is, on a projection's row, the number of partitions
-- it is applied in (1: whole, the row is its checkpoint; P > 1: its
-- partitions' rows are, and this row holds where they started from); on a
-- partition's row (named "<projection>#<i>/<P>", partition_of naming the
-- projection) it is P.
ALTER TABLE projections.projection_checkpoints
	ADD COLUMN IF NOT EXISTS parts int NOT NULL DEFAULT 1,
	ADD COLUMN IF NOT EXISTS partition_of text;
