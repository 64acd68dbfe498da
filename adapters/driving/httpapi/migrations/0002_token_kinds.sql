-- Token kinds: an operator token (every token before this migration) reads
-- and acts and sees personal data; a viewer token opens the console
-- read-only and sees personal data only when created with it.
ALTER TABLE http_tokens ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'operator';
ALTER TABLE http_tokens ADD COLUMN IF NOT EXISTS personal_data boolean NOT NULL DEFAULT true;
