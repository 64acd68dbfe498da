-- Several runners (custody serve instances) divide the projections among
-- themselves (see lease.go). projection_instances lists the runners that
-- take part, each kept alive by its heartbeats: a runner whose expires has
-- passed is gone. projection_owners says which runner applies each
-- projection, since when and under which epoch; a batch transaction
-- checks (and share-locks) its row, so a runner that lost a projection
-- never applies to it again, and a takeover (epoch + 1) waits for the
-- batch in flight.
CREATE TABLE IF NOT EXISTS projections.projection_instances (
	instance  text        PRIMARY KEY,
	started   timestamptz NOT NULL DEFAULT now(),
	heartbeat timestamptz NOT NULL DEFAULT now(),
	expires   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS projections.projection_owners (
	projection text        PRIMARY KEY,
	instance   text        NOT NULL,
	since      timestamptz NOT NULL DEFAULT now(),
	epoch      bigint      NOT NULL DEFAULT 1,
	released   boolean     NOT NULL DEFAULT false
);
