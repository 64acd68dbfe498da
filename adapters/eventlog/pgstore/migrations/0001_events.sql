-- The event log. id orders events within a transaction, tx_id (the writing
-- transaction's id) orders transactions; readers page by (tx_id, id) and
-- only below the oldest running transaction (see the package doc).
CREATE TABLE events (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid        NOT NULL,
    stream         text        NOT NULL CHECK (stream <> ''),
    stream_version bigint      NOT NULL CHECK (stream_version >= 0),
    type           text        NOT NULL CHECK (type <> ''),
    schema_version integer     NOT NULL CHECK (schema_version >= 1),
    corp_id        text        NOT NULL CHECK (corp_id <> ''),
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    actor          text        NOT NULL DEFAULT '',
    command_id     text        NOT NULL DEFAULT '',
    correlation_id text        NOT NULL DEFAULT '',
    causation_id   text        NOT NULL DEFAULT '',
    data           jsonb       NOT NULL,
    -- NULL: no personal data; empty: dropped because the subject was
    -- erased before the append; otherwise sealed by adapters/eventlog/pii.
    pii_sealed     bytea,
    subject        text        NOT NULL DEFAULT '',
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream, stream_version)
);

CREATE INDEX events_tx_id_id_idx ON events (tx_id, id);

COMMENT ON TABLE events IS 'custody event log: append-only, one row per event';
COMMENT ON COLUMN events.tx_id IS 'id of the writing transaction; global order is (tx_id, id)';
COMMENT ON COLUMN events.pii_sealed IS 'personal data sealed per subject (AES-256-GCM); unreadable after erasure';
