-- The last rewrite of the tables that hold personal data (see
-- erasure.Rewrite): erasures recorded after started_at still have old row
-- versions in page free space.
CREATE TABLE IF NOT EXISTS erasure_rewrites (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    tables       text[]      NOT NULL
);
