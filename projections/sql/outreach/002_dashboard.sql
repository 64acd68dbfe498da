-- Dashboard counters, kept by the projection in the transaction that
-- changes the rows they count, so that a corp's dashboard is a handful of
-- index lookups at any size (docs/marketing.md, "SQL for dashboards").

-- outreach_reach: one row per customer with an active relation with a
-- member who has not departed (the dashboard's "customers"), with what
-- decides the customer's class: erased, consent withdrawn (not erased) or
-- open; and whether the customer opted out of the moments of every such
-- member.
CREATE TABLE {s}.outreach_reach (
	corp_id           text    NOT NULL,
	customer_id       text    NOT NULL,
	status            text    NOT NULL, -- erased | withdrawn | open
	moments_opted_out boolean NOT NULL,
	PRIMARY KEY (corp_id, customer_id)
);

-- outreach_counts: per corp, the rows of outreach_reach by class.
CREATE TABLE {s}.outreach_counts (
	corp_id           text   NOT NULL PRIMARY KEY,
	customers         bigint NOT NULL DEFAULT 0,
	erased            bigint NOT NULL DEFAULT 0,
	withdrawn         bigint NOT NULL DEFAULT 0,
	moments_opted_out bigint NOT NULL DEFAULT 0
);

-- outreach_zones: the time zone the cap windows below are cut in, from
-- corp.settings_changed (no row: Asia/Shanghai, corp.DefaultTimeZone).
CREATE TABLE {s}.outreach_zones (
	corp_id   text    NOT NULL PRIMARY KEY,
	time_zone text    NOT NULL,
	rebucket  boolean NOT NULL DEFAULT false -- set while a zone change re-cuts the windows
);

-- outreach_usage: a recipient's counted deliveries per cap window (the
-- calendar day, ISO week and calendar month in the corp's time zone).
-- customer_open copies outreach_reach's status = 'open' for customers, so
-- that the customers at a cap are one index range.
CREATE TABLE {s}.outreach_usage (
	corp_id        text        NOT NULL,
	recipient_kind text        NOT NULL, -- customer | group
	recipient_id   text        NOT NULL,
	period         text        NOT NULL, -- day | week | month
	period_start   timestamptz NOT NULL, -- the window's start (its 00:00 in the corp's time zone)
	used           bigint      NOT NULL,
	customer_open  boolean     NOT NULL DEFAULT false,
	PRIMARY KEY (corp_id, recipient_kind, recipient_id, period, period_start)
);

-- outreach_corp_usage: a corp's deliveries per window: counted ones
-- (delivered) and those WeCom reported against a rule (flagged, counted
-- or not), in 64 shards by recipient (abs(hashtext(recipient_id)) % 64):
-- one row per window would be updated by every delivery of a batch, and
-- PostgreSQL walks every version a transaction left of a row it updates
-- again. A window's figure is the sum of its shards.
CREATE TABLE {s}.outreach_corp_usage (
	corp_id      text        NOT NULL,
	period       text        NOT NULL,
	period_start timestamptz NOT NULL,
	shard        bigint      NOT NULL,
	delivered    bigint      NOT NULL DEFAULT 0,
	flagged      bigint      NOT NULL DEFAULT 0,
	PRIMARY KEY (corp_id, period, period_start, shard)
);

-- A member's live pairs: what staff.departed changes (the projection
-- itself reads it, so it is not a read index).
CREATE INDEX outreach_audience_staff_live_idx ON {s}.outreach_audience (corp_id, staff_id)
	WHERE active AND NOT staff_departed;

-- +backfill: the counters of rows a release without them left (an empty
-- projection gets none). Windows are cut in Asia/Shanghai; a corp in
-- another zone is answered by the exact aggregate until its next
-- corp.settings_changed.
INSERT INTO {s}.outreach_reach (corp_id, customer_id, status, moments_opted_out)
SELECT corp_id, customer_id,
	CASE WHEN bool_or(erased) THEN 'erased' WHEN bool_or(marketing_consent = 'disagree') THEN 'withdrawn' ELSE 'open' END,
	bool_and(moments_opted_out)
FROM {s}.outreach_audience WHERE active AND NOT staff_departed
GROUP BY corp_id, customer_id;

INSERT INTO {s}.outreach_counts (corp_id, customers, erased, withdrawn, moments_opted_out)
SELECT corp_id, count(*), count(*) FILTER (WHERE status = 'erased'), count(*) FILTER (WHERE status = 'withdrawn'),
	count(*) FILTER (WHERE moments_opted_out)
FROM {s}.outreach_reach GROUP BY corp_id;

INSERT INTO {s}.outreach_usage (corp_id, recipient_kind, recipient_id, period, period_start, used, customer_open)
SELECT d.corp_id, d.recipient_kind, d.recipient_id, p.period,
	date_trunc(p.period, d.sent_at AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai', count(*),
	coalesce(bool_or(r.status = 'open' AND d.recipient_kind = 'customer'), false)
FROM {s}.outreach_deliveries AS d CROSS JOIN (VALUES ('day'), ('week'), ('month')) AS p(period)
LEFT JOIN {s}.outreach_reach AS r ON r.corp_id = d.corp_id AND r.customer_id = d.recipient_id
WHERE d.counted
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO {s}.outreach_corp_usage (corp_id, period, period_start, shard, delivered, flagged)
SELECT d.corp_id, p.period, date_trunc(p.period, d.sent_at AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai',
	(abs(hashtext(d.recipient_id)) % 64), count(*) FILTER (WHERE d.counted), count(*) FILTER (WHERE cardinality(d.violations) > 0)
FROM {s}.outreach_deliveries AS d CROSS JOIN (VALUES ('day'), ('week'), ('month')) AS p(period)
WHERE d.counted OR cardinality(d.violations) > 0
GROUP BY 1, 2, 3, 4;

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
-- The open customers at a cap in a window: a range of this index.
CREATE INDEX IF NOT EXISTS outreach_usage_cap_idx ON {s}.outreach_usage (corp_id, period, period_start, used)
	INCLUDE (recipient_id) WHERE customer_open;
