-- A delta on top of each snapshot (eventlog.Snapshots.WriteSnapshotDelta):
-- what changed from the snapshot's version to the stream's event at
-- delta_version, whose id is kept as for the snapshot. Writing a delta
-- updates these columns only: the snapshot's out-of-line data is not
-- written again (the new row version keeps its TOAST pointer), so a large
-- snapshot is rewritten rarely while the events a load replays stay few.
ALTER TABLE snapshots
    ADD COLUMN delta_version  bigint,
    ADD COLUMN delta_event_id uuid,
    ADD COLUMN delta          bytea,
    ADD CONSTRAINT snapshots_delta_whole CHECK (
        (delta IS NULL) = (delta_version IS NULL) AND (delta IS NULL) = (delta_event_id IS NULL)),
    ADD CONSTRAINT snapshots_delta_after CHECK (delta_version > version);

ALTER TABLE snapshots ALTER COLUMN delta SET STATISTICS 0;
ALTER TABLE snapshots ALTER COLUMN delta SET STORAGE EXTERNAL;
