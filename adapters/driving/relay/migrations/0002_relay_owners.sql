-- The hand-over of each route between instances: who took it over last
-- (Options.Instance), when, under which epoch, and whether that owner has
-- released it (stopped publishing and saved its checkpoint).
CREATE TABLE IF NOT EXISTS relay_owners (
    route    text        PRIMARY KEY,
    instance text        NOT NULL,
    since    timestamptz NOT NULL,
    epoch    bigint      NOT NULL DEFAULT 1,
    released boolean     NOT NULL DEFAULT false
);

-- Events after a route's checkpoint that its owner published before it
-- stopped (its publishers run in parallel, so acknowledgements arrive out
-- of log order): the next owner skips them instead of publishing them
-- again. A JSON array of [commit, prepare] positions.
ALTER TABLE relay_checkpoints ADD COLUMN IF NOT EXISTS skip jsonb NOT NULL DEFAULT '[]';
