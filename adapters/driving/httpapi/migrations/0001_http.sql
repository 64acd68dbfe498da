-- Tables owned by the HTTP API: hashed bearer tokens and stored answers of
-- idempotent requests.
CREATE TABLE IF NOT EXISTS http_tokens (
    id          text PRIMARY KEY,
    corp_id     text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS http_tokens_corp ON http_tokens (corp_id);

CREATE TABLE IF NOT EXISTS http_idempotency (
    corp_id      text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       int NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corp_id, key)
);
CREATE INDEX IF NOT EXISTS http_idempotency_created ON http_idempotency (created_at);
