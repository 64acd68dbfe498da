-- The log's identity (eventlog.Identity): one row, created with the log.
-- Positions of this log mean nothing in another one (a copy made with
-- custody log copy has its own), so whatever keeps a position records
-- this id with it.
CREATE TABLE log_identity (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    log_id     uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO log_identity (log_id) VALUES (gen_random_uuid());
