-- One row per relay route: the log position up to which every event was
-- acknowledged by the route's broker (or filtered out).
CREATE TABLE IF NOT EXISTS relay_checkpoints (
    route          text        PRIMARY KEY,
    commit_pos     bigint      NOT NULL,
    prepare_pos    bigint      NOT NULL,
    published      bigint      NOT NULL DEFAULT 0, -- events published (re-publishes count again)
    updated_at     timestamptz NOT NULL DEFAULT now()
);
