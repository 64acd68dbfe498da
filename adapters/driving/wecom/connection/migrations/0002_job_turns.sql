-- Periodic jobs that call WeCom's API for a corp (the mass-message report,
-- the reconcile) take turns across custody instances: an instance runs a
-- corp's job only after taking its turn here, and a turn is given only
-- when the last one was taken long enough ago (Store.TakeTurn). So each
-- corp is polled about once per period however many instances run, and
-- WeCom's API quota is spent once.
CREATE TABLE wecom.job_turns (
    job      text NOT NULL,
    corp_id  text NOT NULL,
    taken_at timestamptz NOT NULL,
    PRIMARY KEY (job, corp_id)
);
