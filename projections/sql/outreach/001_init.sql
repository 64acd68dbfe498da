-- outreach_customers: what marketing eligibility needs of each customer:
-- the latest marketing consent, erasure, the last outreach it received.
CREATE TABLE {s}.outreach_customers (
	corp_id            text        NOT NULL,
	customer_id        text        NOT NULL,
	marketing_consent  text        NOT NULL DEFAULT '', -- '' (none recorded) | agree | disagree | default_agree
	consent_changed_at timestamptz,
	erased             boolean     NOT NULL DEFAULT false,
	last_contact_at    timestamptz,                     -- latest outreach.delivered (business time)
	PRIMARY KEY (corp_id, customer_id)
);

-- outreach_audience: one row per (customer, staff member) pair a relation
-- ever joined, with the customer's columns of outreach_customers copied
-- in, so that the audience query reads one table. Eligible through the
-- member for a mass message: active AND NOT staff_departed AND NOT erased
-- AND marketing_consent <> 'disagree' (and the caps); for a moments post
-- also NOT moments_opted_out.
CREATE TABLE {s}.outreach_audience (
	corp_id           text        NOT NULL,
	customer_id       text        NOT NULL,
	staff_id          text        NOT NULL,
	active            boolean     NOT NULL DEFAULT false,
	staff_departed    boolean     NOT NULL DEFAULT false,
	channel           text        NOT NULL DEFAULT '', -- the relation's state (channel code)
	tags              text[]      NOT NULL DEFAULT '{}',
	moments_opted_out boolean     NOT NULL DEFAULT false,
	since             timestamptz,                     -- start of the relation's latest interval
	marketing_consent text        NOT NULL DEFAULT '',
	erased            boolean     NOT NULL DEFAULT false,
	last_contact_at   timestamptz,
	PRIMARY KEY (corp_id, customer_id, staff_id)
);

-- outreach_group_members: the customers in each customer group now.
CREATE TABLE {s}.outreach_group_members (
	corp_id     text NOT NULL,
	chat_id     text NOT NULL,
	customer_id text NOT NULL,
	PRIMARY KEY (corp_id, chat_id, customer_id)
);

-- outreach_deliveries: every outreach.delivered: the ledger the caps count.
CREATE TABLE {s}.outreach_deliveries (
	corp_id        text        NOT NULL,
	recipient_kind text        NOT NULL, -- customer | group
	recipient_id   text        NOT NULL, -- customer_id or chat_id
	message_id     text        NOT NULL,
	channel        text        NOT NULL,
	staff_id       text        NOT NULL,
	sent_at        timestamptz NOT NULL, -- business time
	counted        boolean     NOT NULL,
	reported_by    text        NOT NULL,
	violations     text[]      NOT NULL DEFAULT '{}',
	PRIMARY KEY (corp_id, recipient_kind, recipient_id, message_id)
);

-- outreach_messages: each message's plan and outcome counts.
CREATE TABLE {s}.outreach_messages (
	corp_id      text        NOT NULL,
	message_id   text        NOT NULL,
	channel      text        NOT NULL,
	staff_id     text        NOT NULL,
	planned_at   timestamptz,
	planned      bigint      NOT NULL DEFAULT 0, -- recipients planned
	reached      bigint      NOT NULL DEFAULT 0, -- recipients reached (outreach.sent)
	refused      bigint      NOT NULL DEFAULT 0, -- recipients refused (outreach.refused)
	flagged      bigint      NOT NULL DEFAULT 0, -- reached although a rule refused them
	last_sent_at timestamptz,
	PRIMARY KEY (corp_id, message_id)
);

-- +read-indexes: indexes only readers use; a rebuild creates them after loading.
-- The audience in customer order, only the rows that can be eligible.
CREATE INDEX IF NOT EXISTS outreach_audience_eligible_idx ON {s}.outreach_audience (corp_id, customer_id, staff_id)
	WHERE active AND NOT staff_departed AND NOT erased AND marketing_consent <> 'disagree';
-- One member's audience, in customer order.
CREATE INDEX IF NOT EXISTS outreach_audience_staff_idx ON {s}.outreach_audience (corp_id, staff_id, customer_id)
	WHERE active AND NOT staff_departed AND NOT erased AND marketing_consent <> 'disagree';
-- One channel code's audience (state filter), in customer order.
CREATE INDEX IF NOT EXISTS outreach_audience_state_idx ON {s}.outreach_audience (corp_id, channel, customer_id, staff_id)
	WHERE active AND NOT staff_departed AND NOT erased AND marketing_consent <> 'disagree';
-- Tag filters (tags @> ARRAY[...]).
CREATE INDEX IF NOT EXISTS outreach_audience_tags_idx ON {s}.outreach_audience USING gin (tags)
	WHERE active AND NOT staff_departed AND NOT erased AND marketing_consent <> 'disagree';
CREATE INDEX IF NOT EXISTS outreach_group_members_customer_idx ON {s}.outreach_group_members (corp_id, customer_id);
-- The caps' counts: a recipient's counted deliveries in a window.
CREATE INDEX IF NOT EXISTS outreach_deliveries_window_idx ON {s}.outreach_deliveries (corp_id, recipient_kind, recipient_id, sent_at)
	WHERE counted;
-- Dashboards: deliveries of a corp in a period.
CREATE INDEX IF NOT EXISTS outreach_deliveries_sent_idx ON {s}.outreach_deliveries (corp_id, sent_at);
