-- The WeCom callback inbox: every verified, decrypted callback is stored here
-- before WeCom gets its 200, and translated into commands afterwards.
CREATE SCHEMA IF NOT EXISTS wecom;

CREATE TABLE IF NOT EXISTS wecom.inbox (
    id           bigserial PRIMARY KEY,
    corp_id      text NOT NULL,
    -- dedup_key is derived from the callback's content: WeCom's retries and
    -- duplicate deliveries of one fact share it.
    dedup_key    text NOT NULL,
    -- kind is Event/ChangeType[/UpdateDetail], e.g. change_external_contact/add_external_contact.
    kind         text NOT NULL,
    -- subject is the customer or group chat the callback is about; callbacks
    -- of one subject are translated in the order they were received.
    subject      text NOT NULL DEFAULT '',
    create_time  timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now(),
    deliveries   integer NOT NULL DEFAULT 1,
    last_delivery_at timestamptz NOT NULL DEFAULT now(),
    payload      bytea NOT NULL,
    -- status: pending (not translated yet), done (translated), unknown (a
    -- kind custody does not translate; kept and listed), rejected (the
    -- payload cannot become a command; kept with the reason).
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'done', 'unknown', 'rejected')),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT '',
    processed_at timestamptz,
    UNIQUE (corp_id, dedup_key)
);

CREATE INDEX IF NOT EXISTS inbox_pending ON wecom.inbox (id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS inbox_corp_status ON wecom.inbox (corp_id, status, id);
