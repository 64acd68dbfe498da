-- Details custody must fetch from WeCom's API because a callback only says
-- that something changed (an edited contact, a renamed group, a new tag).
-- The WeCom API client (reconciliation) takes entries from here.
CREATE TABLE IF NOT EXISTS wecom.refresh (
    corp_id      text NOT NULL,
    -- kind: contact (subject = customer, staff_id set), chat, tag.
    kind         text NOT NULL CHECK (kind IN ('contact', 'chat', 'tag')),
    subject      text NOT NULL,
    staff_id     text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corp_id, kind, subject, staff_id)
);
