-- One row per log follower that keeps its place in PostgreSQL (the slot
-- keeper, ...): every event up to and including the position was handled.
CREATE TABLE IF NOT EXISTS follower_checkpoints (
    name        text        PRIMARY KEY,
    commit_pos  bigint      NOT NULL,
    prepare_pos bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
