-- The checkpoint table and the table of parked corps (see parking.go). They
-- belong to the package, not to one projection, and are never swapped by a
-- rebuild. Written with IF NOT EXISTS: databases where projections created
-- them before pgmigrate are adopted by running this once.
CREATE SCHEMA IF NOT EXISTS projections;
CREATE TABLE IF NOT EXISTS projections.projection_checkpoints (
	name             text        PRIMARY KEY,
	commit_pos       bigint      NOT NULL DEFAULT 0,
	prepare_pos      bigint      NOT NULL DEFAULT 0,
	schema_version   int         NOT NULL DEFAULT 0,
	last_recorded_at timestamptz,
	events_applied   bigint      NOT NULL DEFAULT 0,
	updated_at       timestamptz NOT NULL DEFAULT now(),
	rebuilt_at       timestamptz
);
CREATE TABLE IF NOT EXISTS projections.parked (
	projection  text        NOT NULL,
	corp_id     text        NOT NULL,
	commit_pos  bigint      NOT NULL,
	prepare_pos bigint      NOT NULL,
	event_id    uuid        NOT NULL,
	event_type  text        NOT NULL,
	stream      text        NOT NULL,
	reason      text        NOT NULL,
	parked_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (projection, corp_id)
);
