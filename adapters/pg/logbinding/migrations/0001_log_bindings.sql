-- Which event log the positions kept in this database belong to
-- (projection checkpoints, relay routes, followers): one row per binding,
-- the newest is in force. A log's positions mean nothing in another log
-- (a copy made with custody log copy has its own), so custody serve refuses
-- to start when the configured log is not the bound one.
CREATE TABLE log_bindings (
    seq      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind     text        NOT NULL,
    log_id   text        NOT NULL,
    bound_at timestamptz NOT NULL DEFAULT now(),
    how      text        NOT NULL
);
