-- The database of custody release bda3493 (before internal/pgmigrate), as
-- its own `custody migrate` left it plus a few rows (an API token, a relay
-- checkpoint, a projection checkpoint past the start). Made with:
--   git archive bda3493 | tar -x -C old; (cd old && go build -o custody-old ./cmd/custody)
--   DATABASE_URL=postgres://.../legacy custody-old migrate
--   pg_dump --inserts --no-owner --no-privileges --no-comments legacy
-- (comments and psql meta-commands removed). TestMigrateAdoptsLegacyDatabase
-- loads it and runs the current migrations over it.

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

CREATE SCHEMA projections;

CREATE SCHEMA wecom;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE projections.consent_history (
    corp_id text NOT NULL,
    customer_id text NOT NULL,
    purpose text NOT NULL,
    state text NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    commit_pos bigint NOT NULL,
    prepare_pos bigint NOT NULL
);

CREATE TABLE projections.consents (
    corp_id text NOT NULL,
    customer_id text NOT NULL,
    purpose text NOT NULL,
    state text NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone NOT NULL
);

CREATE TABLE projections.customers (
    corp_id text NOT NULL,
    customer_id text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    followers text[] DEFAULT '{}'::text[] NOT NULL,
    follower_count bigint DEFAULT 0 NOT NULL,
    first_added_at timestamp with time zone,
    last_added_at timestamp with time zone,
    erased boolean DEFAULT false NOT NULL,
    erased_at timestamp with time zone,
    updated_at timestamp with time zone NOT NULL
);
ALTER TABLE ONLY projections.customers ALTER COLUMN name SET STATISTICS 0;

CREATE TABLE projections.daily_staff_activity (
    corp_id text NOT NULL,
    staff_id text NOT NULL,
    day date NOT NULL,
    added bigint DEFAULT 0 NOT NULL,
    added_by_staff bigint DEFAULT 0 NOT NULL,
    added_by_customer bigint DEFAULT 0 NOT NULL,
    deleted_by_customer bigint DEFAULT 0 NOT NULL,
    deleted_by_staff bigint DEFAULT 0 NOT NULL,
    handed_over_in bigint DEFAULT 0 NOT NULL,
    handed_over_out bigint DEFAULT 0 NOT NULL,
    reconciled bigint DEFAULT 0 NOT NULL
);

CREATE TABLE projections.group_chats (
    corp_id text NOT NULL,
    chat_id text NOT NULL,
    owner_id text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    notice text DEFAULT ''::text NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    dismissed_at timestamp with time zone,
    staff_members bigint DEFAULT 0 NOT NULL,
    customer_members bigint DEFAULT 0 NOT NULL,
    owner_changes bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone NOT NULL
);
ALTER TABLE ONLY projections.group_chats ALTER COLUMN name SET STATISTICS 0;
ALTER TABLE ONLY projections.group_chats ALTER COLUMN notice SET STATISTICS 0;

CREATE TABLE projections.group_members (
    corp_id text NOT NULL,
    chat_id text NOT NULL,
    member_id text NOT NULL,
    member_type text NOT NULL,
    joined_at timestamp with time zone NOT NULL,
    join_scene text NOT NULL,
    inviter_id text DEFAULT ''::text NOT NULL,
    nickname text DEFAULT ''::text NOT NULL
);
ALTER TABLE ONLY projections.group_members ALTER COLUMN nickname SET STATISTICS 0;

CREATE TABLE projections.group_membership_history (
    corp_id text NOT NULL,
    chat_id text NOT NULL,
    member_id text NOT NULL,
    member_type text NOT NULL,
    joined_at timestamp with time zone NOT NULL,
    join_scene text NOT NULL,
    inviter_id text DEFAULT ''::text NOT NULL,
    nickname text DEFAULT ''::text NOT NULL,
    left_at timestamp with time zone,
    quit_scene text,
    join_commit bigint NOT NULL,
    join_prepare bigint NOT NULL
);
ALTER TABLE ONLY projections.group_membership_history ALTER COLUMN nickname SET STATISTICS 0;

CREATE TABLE projections.handovers (
    corp_id text NOT NULL,
    handover_id text NOT NULL,
    customer_id text NOT NULL,
    kind text NOT NULL,
    from_staff_id text NOT NULL,
    to_staff_id text NOT NULL,
    batch_id text DEFAULT ''::text NOT NULL,
    message text DEFAULT ''::text NOT NULL,
    status text NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    deadline timestamp with time zone NOT NULL,
    settled_at timestamp with time zone,
    failure_reason text
);
ALTER TABLE ONLY projections.handovers ALTER COLUMN message SET STATISTICS 0;

CREATE TABLE projections.moments_audience (
    corp_id text NOT NULL,
    staff_id text NOT NULL,
    customer_id text NOT NULL,
    since timestamp with time zone NOT NULL,
    opted_out boolean DEFAULT false NOT NULL
);

CREATE TABLE projections.moments_opt_outs (
    corp_id text NOT NULL,
    customer_id text NOT NULL,
    staff_id text NOT NULL,
    opted_out boolean NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    source text DEFAULT ''::text NOT NULL
);

CREATE TABLE projections.ownership_intervals (
    corp_id text NOT NULL,
    customer_id text NOT NULL,
    staff_id text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    started_by text NOT NULL,
    start_handover_id text,
    end_reason text,
    end_handover_id text,
    start_commit bigint NOT NULL,
    start_prepare bigint NOT NULL
);

CREATE TABLE projections.parked (
    projection text NOT NULL,
    corp_id text NOT NULL,
    commit_pos bigint NOT NULL,
    prepare_pos bigint NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    stream text NOT NULL,
    reason text NOT NULL,
    parked_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE projections.projection_checkpoints (
    name text NOT NULL,
    commit_pos bigint DEFAULT 0 NOT NULL,
    prepare_pos bigint DEFAULT 0 NOT NULL,
    schema_version integer DEFAULT 0 NOT NULL,
    last_recorded_at timestamp with time zone,
    events_applied bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    rebuilt_at timestamp with time zone
);

CREATE TABLE projections.relations (
    corp_id text NOT NULL,
    customer_id text NOT NULL,
    staff_id text NOT NULL,
    status text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    end_reason text,
    started_by text NOT NULL,
    start_handover_id text,
    end_handover_id text,
    initiator text DEFAULT ''::text NOT NULL,
    add_way bigint DEFAULT 0 NOT NULL,
    channel text DEFAULT ''::text NOT NULL,
    customer_name text DEFAULT ''::text NOT NULL,
    remark text DEFAULT ''::text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    phones text[] DEFAULT '{}'::text[] NOT NULL,
    tags text[] DEFAULT '{}'::text[] NOT NULL,
    moments_opted_out boolean DEFAULT false NOT NULL,
    moments_changed_at timestamp with time zone,
    intervals bigint DEFAULT 1 NOT NULL,
    updated_at timestamp with time zone NOT NULL
);
ALTER TABLE ONLY projections.relations ALTER COLUMN customer_name SET STATISTICS 0;
ALTER TABLE ONLY projections.relations ALTER COLUMN remark SET STATISTICS 0;
ALTER TABLE ONLY projections.relations ALTER COLUMN description SET STATISTICS 0;
ALTER TABLE ONLY projections.relations ALTER COLUMN phones SET STATISTICS 0;

CREATE TABLE projections.staff (
    corp_id text NOT NULL,
    staff_id text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    status text DEFAULT 'unknown'::text NOT NULL,
    capacity bigint DEFAULT 0 NOT NULL,
    joined_at timestamp with time zone,
    departed_at timestamp with time zone,
    active_customers bigint DEFAULT 0 NOT NULL,
    unassigned_customers bigint DEFAULT 0 NOT NULL,
    slots_used bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    erased boolean DEFAULT false NOT NULL,
    erased_at timestamp with time zone
);
ALTER TABLE ONLY projections.staff ALTER COLUMN name SET STATISTICS 0;

CREATE TABLE projections.tags (
    corp_id text NOT NULL,
    tag_id text NOT NULL,
    kind text NOT NULL,
    group_id text DEFAULT ''::text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    deleted boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone NOT NULL,
    reordered_at timestamp with time zone
);

CREATE TABLE projections.unassigned_relations (
    corp_id text NOT NULL,
    customer_id text NOT NULL,
    staff_id text NOT NULL,
    departed_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone NOT NULL
);

CREATE TABLE projections.wecom_unmatched (
    corp_id text NOT NULL,
    callback_key text NOT NULL,
    kind text NOT NULL,
    reason text NOT NULL,
    customer_id text DEFAULT ''::text NOT NULL,
    staff_id text DEFAULT ''::text NOT NULL,
    chat_id text DEFAULT ''::text NOT NULL,
    member_ids text[] DEFAULT '{}'::text[] NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    commit_pos bigint NOT NULL,
    prepare_pos bigint NOT NULL
);

CREATE TABLE public.erasure_rewrites (
    id bigint NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    tables text[] NOT NULL
);

ALTER TABLE public.erasure_rewrites ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.erasure_rewrites_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.events (
    id bigint NOT NULL,
    tx_id xid8 DEFAULT pg_current_xact_id() NOT NULL,
    event_id uuid NOT NULL,
    stream text NOT NULL,
    stream_version bigint NOT NULL,
    type text NOT NULL,
    schema_version integer NOT NULL,
    corp_id text NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    actor text DEFAULT ''::text NOT NULL,
    command_id text DEFAULT ''::text NOT NULL,
    correlation_id text DEFAULT ''::text NOT NULL,
    causation_id text DEFAULT ''::text NOT NULL,
    data jsonb NOT NULL,
    pii_sealed bytea,
    subject text DEFAULT ''::text NOT NULL,
    CONSTRAINT events_corp_id_check CHECK ((corp_id <> ''::text)),
    CONSTRAINT events_schema_version_check CHECK ((schema_version >= 1)),
    CONSTRAINT events_stream_check CHECK ((stream <> ''::text)),
    CONSTRAINT events_stream_version_check CHECK ((stream_version >= 0)),
    CONSTRAINT events_type_check CHECK ((type <> ''::text))
);
ALTER TABLE ONLY public.events ALTER COLUMN data SET STATISTICS 0;

ALTER TABLE public.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.follower_checkpoints (
    name text NOT NULL,
    commit_pos bigint NOT NULL,
    prepare_pos bigint NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.http_idempotency (
    corp_id text NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    status integer NOT NULL,
    body bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.http_tokens (
    id text NOT NULL,
    corp_id text NOT NULL,
    token_hash bytea NOT NULL,
    label text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone
);

CREATE TABLE public.pii_keys (
    subject text NOT NULL,
    wrapped_key bytea,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    erased_at timestamp with time zone,
    CONSTRAINT pii_keys_check CHECK (((wrapped_key IS NULL) = (erased_at IS NOT NULL)))
);

CREATE TABLE public.relay_checkpoints (
    route text NOT NULL,
    commit_pos bigint NOT NULL,
    prepare_pos bigint NOT NULL,
    published bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.schema_migrations (
    component text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE wecom.connections (
    corp_id text NOT NULL,
    wecom_corp_id text NOT NULL,
    sealed bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE wecom.group_transfers (
    corp_id text NOT NULL,
    chat_id text NOT NULL,
    new_owner text NOT NULL,
    resigned boolean NOT NULL,
    state text NOT NULL,
    wecom_code integer,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE wecom.inbox (
    id bigint NOT NULL,
    corp_id text NOT NULL,
    dedup_key text NOT NULL,
    kind text NOT NULL,
    subject text DEFAULT ''::text NOT NULL,
    create_time timestamp with time zone,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    deliveries integer DEFAULT 1 NOT NULL,
    last_delivery_at timestamp with time zone DEFAULT now() NOT NULL,
    payload bytea NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text DEFAULT ''::text NOT NULL,
    processed_at timestamp with time zone,
    CONSTRAINT inbox_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'done'::text, 'unknown'::text, 'rejected'::text])))
);

CREATE SEQUENCE wecom.inbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE wecom.inbox_id_seq OWNED BY wecom.inbox.id;

CREATE TABLE wecom.refresh (
    corp_id text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    staff_id text DEFAULT ''::text NOT NULL,
    reason text DEFAULT ''::text NOT NULL,
    requested_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT refresh_kind_check CHECK ((kind = ANY (ARRAY['contact'::text, 'chat'::text, 'tag'::text])))
);

CREATE TABLE wecom.transfers (
    corp_id text NOT NULL,
    handover_id text NOT NULL,
    customer_id text NOT NULL,
    from_staff_id text NOT NULL,
    to_staff_id text NOT NULL,
    resigned boolean NOT NULL,
    deadline timestamp with time zone NOT NULL,
    state text NOT NULL,
    wecom_code integer,
    wecom_status integer,
    takeover_time timestamp with time zone,
    polls integer DEFAULT 0 NOT NULL,
    outcome text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY wecom.inbox ALTER COLUMN id SET DEFAULT nextval('wecom.inbox_id_seq'::regclass);

INSERT INTO projections.projection_checkpoints VALUES ('staff', 0, 0, 4, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('relations', 0, 0, 3, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('handovers', 0, 0, 2, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('groups', 0, 0, 3, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('activity', 0, 0, 2, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('moments', 0, 0, 1, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('consents', 0, 0, 1, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('tags', 0, 0, 1, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('wecom_unmatched', 0, 0, 1, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);
INSERT INTO projections.projection_checkpoints VALUES ('customers', 7, 7, 3, NULL, 0, '2026-12-05 06:17:08.791698+00', NULL);

INSERT INTO public.http_tokens VALUES ('tok-legacy', 'corp-legacy', '\x01', 'legacy', '2026-12-05 06:17:14.854219+00', NULL);

INSERT INTO public.relay_checkpoints VALUES ('legacy', 7, 7, 0, '2026-12-05 06:17:14.862301+00');

INSERT INTO public.schema_migrations VALUES ('pii', 1, '0001_pii_keys.sql', '2026-12-05 06:17:08.716672+00');
INSERT INTO public.schema_migrations VALUES ('pgstore', 1, '0001_events.sql', '2026-12-05 06:17:08.74284+00');
INSERT INTO public.schema_migrations VALUES ('pgstore', 2, '0002_data_statistics.sql', '2026-12-05 06:17:08.74284+00');
INSERT INTO public.schema_migrations VALUES ('erasure', 1, '0001_erasure_rewrites.sql', '2026-12-05 06:17:08.77834+00');
INSERT INTO public.schema_migrations VALUES ('pgcheckpoint', 1, '0001_follower_checkpoints.sql', '2026-12-05 06:17:10.117203+00');

SELECT pg_catalog.setval('public.erasure_rewrites_id_seq', 1, false);

SELECT pg_catalog.setval('public.events_id_seq', 1, false);

SELECT pg_catalog.setval('wecom.inbox_id_seq', 1, false);

ALTER TABLE ONLY projections.consent_history
    ADD CONSTRAINT consent_history_pkey PRIMARY KEY (commit_pos, prepare_pos);

ALTER TABLE ONLY projections.consents
    ADD CONSTRAINT consents_pkey PRIMARY KEY (corp_id, customer_id, purpose);

ALTER TABLE ONLY projections.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (corp_id, customer_id);

ALTER TABLE ONLY projections.daily_staff_activity
    ADD CONSTRAINT daily_staff_activity_pkey PRIMARY KEY (corp_id, staff_id, day);

ALTER TABLE ONLY projections.group_chats
    ADD CONSTRAINT group_chats_pkey PRIMARY KEY (corp_id, chat_id);

ALTER TABLE ONLY projections.group_members
    ADD CONSTRAINT group_members_pkey PRIMARY KEY (corp_id, chat_id, member_type, member_id);

ALTER TABLE ONLY projections.group_membership_history
    ADD CONSTRAINT group_membership_history_pkey PRIMARY KEY (join_commit, join_prepare);

ALTER TABLE ONLY projections.handovers
    ADD CONSTRAINT handovers_pkey PRIMARY KEY (corp_id, handover_id);

ALTER TABLE ONLY projections.moments_audience
    ADD CONSTRAINT moments_audience_pkey PRIMARY KEY (corp_id, staff_id, customer_id);

ALTER TABLE ONLY projections.moments_opt_outs
    ADD CONSTRAINT moments_opt_outs_pkey PRIMARY KEY (corp_id, customer_id, staff_id);

ALTER TABLE ONLY projections.ownership_intervals
    ADD CONSTRAINT ownership_intervals_pkey PRIMARY KEY (start_commit, start_prepare);

ALTER TABLE ONLY projections.parked
    ADD CONSTRAINT parked_pkey PRIMARY KEY (projection, corp_id);

ALTER TABLE ONLY projections.projection_checkpoints
    ADD CONSTRAINT projection_checkpoints_pkey PRIMARY KEY (name);

ALTER TABLE ONLY projections.relations
    ADD CONSTRAINT relations_pkey PRIMARY KEY (corp_id, customer_id, staff_id);

ALTER TABLE ONLY projections.staff
    ADD CONSTRAINT staff_pkey PRIMARY KEY (corp_id, staff_id);

ALTER TABLE ONLY projections.tags
    ADD CONSTRAINT tags_pkey PRIMARY KEY (corp_id, tag_id);

ALTER TABLE ONLY projections.unassigned_relations
    ADD CONSTRAINT unassigned_relations_pkey PRIMARY KEY (corp_id, customer_id, staff_id);

ALTER TABLE ONLY projections.wecom_unmatched
    ADD CONSTRAINT wecom_unmatched_pkey PRIMARY KEY (corp_id, callback_key);

ALTER TABLE ONLY public.erasure_rewrites
    ADD CONSTRAINT erasure_rewrites_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_event_id_key UNIQUE (event_id);

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_stream_version_key UNIQUE (stream, stream_version);

ALTER TABLE ONLY public.follower_checkpoints
    ADD CONSTRAINT follower_checkpoints_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.http_idempotency
    ADD CONSTRAINT http_idempotency_pkey PRIMARY KEY (corp_id, key);

ALTER TABLE ONLY public.http_tokens
    ADD CONSTRAINT http_tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.http_tokens
    ADD CONSTRAINT http_tokens_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.pii_keys
    ADD CONSTRAINT pii_keys_pkey PRIMARY KEY (subject);

ALTER TABLE ONLY public.relay_checkpoints
    ADD CONSTRAINT relay_checkpoints_pkey PRIMARY KEY (route);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (component, version);

ALTER TABLE ONLY wecom.connections
    ADD CONSTRAINT connections_pkey PRIMARY KEY (corp_id);

ALTER TABLE ONLY wecom.group_transfers
    ADD CONSTRAINT group_transfers_pkey PRIMARY KEY (corp_id, chat_id);

ALTER TABLE ONLY wecom.inbox
    ADD CONSTRAINT inbox_corp_id_dedup_key_key UNIQUE (corp_id, dedup_key);

ALTER TABLE ONLY wecom.inbox
    ADD CONSTRAINT inbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY wecom.refresh
    ADD CONSTRAINT refresh_pkey PRIMARY KEY (corp_id, kind, subject, staff_id);

ALTER TABLE ONLY wecom.transfers
    ADD CONSTRAINT transfers_pkey PRIMARY KEY (corp_id, handover_id);

CREATE INDEX consent_history_customer_idx ON projections.consent_history USING btree (corp_id, customer_id, changed_at);

CREATE INDEX consents_purpose_idx ON projections.consents USING btree (corp_id, purpose, state);

CREATE INDEX customers_corp_first_added_idx ON projections.customers USING btree (corp_id, first_added_at);

CREATE INDEX customers_followers_idx ON projections.customers USING gin (followers);

CREATE INDEX daily_staff_activity_day_idx ON projections.daily_staff_activity USING btree (corp_id, day);

CREATE INDEX group_chats_owner_idx ON projections.group_chats USING btree (corp_id, owner_id);

CREATE INDEX group_members_member_idx ON projections.group_members USING btree (corp_id, member_type, member_id);

CREATE INDEX group_membership_history_chat_idx ON projections.group_membership_history USING btree (corp_id, chat_id, joined_at);

CREATE INDEX group_membership_history_member_idx ON projections.group_membership_history USING btree (corp_id, member_type, member_id);

CREATE INDEX group_membership_history_open_idx ON projections.group_membership_history USING btree (corp_id, chat_id, member_type, member_id) WHERE (left_at IS NULL);

CREATE INDEX handovers_customer_idx ON projections.handovers USING btree (corp_id, customer_id, requested_at);

CREATE INDEX handovers_from_idx ON projections.handovers USING btree (corp_id, from_staff_id, requested_at);

CREATE INDEX handovers_pending_deadline_idx ON projections.handovers USING btree (deadline) WHERE (status = 'pending'::text);

CREATE INDEX handovers_status_idx ON projections.handovers USING btree (corp_id, status, deadline);

CREATE INDEX handovers_to_idx ON projections.handovers USING btree (corp_id, to_staff_id, requested_at);

CREATE INDEX moments_audience_customer_idx ON projections.moments_audience USING btree (corp_id, customer_id);

CREATE INDEX moments_opt_outs_staff_idx ON projections.moments_opt_outs USING btree (corp_id, staff_id) WHERE opted_out;

CREATE INDEX ownership_intervals_customer_idx ON projections.ownership_intervals USING btree (corp_id, customer_id, started_at);

CREATE INDEX ownership_intervals_open_idx ON projections.ownership_intervals USING btree (corp_id, customer_id, staff_id) WHERE (ended_at IS NULL);

CREATE INDEX ownership_intervals_staff_idx ON projections.ownership_intervals USING btree (corp_id, staff_id, started_at);

CREATE INDEX relations_staff_idx ON projections.relations USING btree (corp_id, staff_id, status, customer_id);

CREATE INDEX relations_status_idx ON projections.relations USING btree (corp_id, status, ended_at);

CREATE INDEX staff_corp_status_idx ON projections.staff USING btree (corp_id, status);

CREATE INDEX tags_group_idx ON projections.tags USING btree (corp_id, group_id);

CREATE INDEX unassigned_relations_departed_idx ON projections.unassigned_relations USING btree (corp_id, departed_at);

CREATE INDEX unassigned_relations_staff_idx ON projections.unassigned_relations USING btree (corp_id, staff_id, customer_id);

CREATE INDEX wecom_unmatched_occurred_idx ON projections.wecom_unmatched USING btree (corp_id, occurred_at);

CREATE INDEX wecom_unmatched_reason_idx ON projections.wecom_unmatched USING btree (corp_id, reason, occurred_at);

CREATE INDEX events_tx_id_id_idx ON public.events USING btree (tx_id, id);

CREATE INDEX http_idempotency_created ON public.http_idempotency USING btree (created_at);

CREATE INDEX http_tokens_corp ON public.http_tokens USING btree (corp_id);

CREATE INDEX inbox_corp_status ON wecom.inbox USING btree (corp_id, status, id);

CREATE INDEX inbox_pending ON wecom.inbox USING btree (id) WHERE (status = 'pending'::text);

CREATE INDEX transfers_open_idx ON wecom.transfers USING btree (corp_id, from_staff_id, to_staff_id) WHERE (state <> 'done'::text);

