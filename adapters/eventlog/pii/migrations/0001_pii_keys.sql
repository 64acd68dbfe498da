-- Data keys of personal-data subjects, each wrapped (AES-256-GCM) under the
-- master key. An erased subject keeps its row as a tombstone: wrapped_key
-- NULL and erased_at set, so no new key is ever minted for it.
CREATE TABLE pii_keys (
    subject     text        PRIMARY KEY,
    wrapped_key bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);
