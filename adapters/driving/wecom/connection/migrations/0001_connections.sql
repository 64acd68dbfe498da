CREATE SCHEMA IF NOT EXISTS wecom;

-- Per-corp WeCom connections. The secrets (callback Token, EncodingAESKey,
-- app secret, and the previous Token/EncodingAESKey during a rotation) are
-- one sealed value: never stored, logged or returned in the clear.
CREATE TABLE IF NOT EXISTS wecom.connections (
    corp_id       text PRIMARY KEY,
    wecom_corp_id text NOT NULL,
    sealed        bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
