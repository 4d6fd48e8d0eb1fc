-- The operator console's overview (read_api/console/queries.py) reads the events finished in the
-- last minutes, every few seconds: without this index that is a scan of the whole events table.
CREATE INDEX events_finished_at ON events (finished_at);
