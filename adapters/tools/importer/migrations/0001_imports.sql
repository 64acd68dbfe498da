-- Progress of bulk imports (custody import), one row per import: a corp
-- and the SHA-256 of the file. Each chunk of events and this row's update
-- commit in one transaction, so after a crash the row says exactly where
-- the log stands.
CREATE TABLE import_progress (
    import_id    text        PRIMARY KEY,
    corp_id      text        NOT NULL,
    file_sha256  text        NOT NULL,
    file_bytes   bigint      NOT NULL,
    line         bigint      NOT NULL DEFAULT 0,
    byte_offset  bigint      NOT NULL DEFAULT 0,
    records      bigint      NOT NULL DEFAULT 0,
    events       bigint      NOT NULL DEFAULT 0,
    rejected     bigint      NOT NULL DEFAULT 0,
    last_position text       NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

-- Records a domain rule refused (e.g. a relation already active): skipped,
-- listed here in the transaction of their chunk. reason names the rule,
-- never the record's content.
CREATE TABLE import_rejects (
    import_id text   NOT NULL REFERENCES import_progress (import_id),
    line      bigint NOT NULL,
    reason    text   NOT NULL,
    PRIMARY KEY (import_id, line)
);
