-- Snapshots of aggregates with long streams (eventlog.Snapshots): one per
-- stream, the encoded aggregate as of the stream's event at version. The
-- event's id is kept so that a snapshot is only used while that event is
-- still the stream's event at that version. Only a cache: every row may be
-- deleted at any time; the aggregate is then rebuilt from its stream.
CREATE TABLE snapshots (
    stream     text        PRIMARY KEY CHECK (stream <> ''),
    version    bigint      NOT NULL CHECK (version >= 0),
    event_id   uuid        NOT NULL,
    data       bytea       NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);

-- The encoded aggregates are opaque bytes: no column statistics on them,
-- and stored out of line without compression (pglz would cost every cold
-- load a decompression for little gain on ids).
ALTER TABLE snapshots ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE snapshots ALTER COLUMN data SET STORAGE EXTERNAL;

COMMENT ON TABLE snapshots IS 'custody aggregate snapshots: a cache of derived state, safe to delete';
