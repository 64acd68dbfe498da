-- +read-indexes: built after a rebuild's load (see 001_init.sql).
-- One member's rows that a departure reaches (the projector's fanout load
-- of orDeparted: corp_id, staff_id and NOT staff_departed), whatever the
-- rows' activity, erasure and consent: without it a departure read the
-- corp's rows through the primary key, which outreach_audience_staff_idx
-- cannot serve (its predicate also asks for active, eligible rows).
CREATE INDEX IF NOT EXISTS outreach_audience_serving_idx ON {s}.outreach_audience (corp_id, staff_id)
	WHERE NOT staff_departed;
