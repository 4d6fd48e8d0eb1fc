-- Retention (docs/retention.md). The two tables that grow with every call, `events` and `ack_outbox`,
-- become partitioned by time, so that old rows go by dropping a partition instead of by a DELETE.
--
-- No row is copied: each existing table is renamed and attached as it is, as the partition holding
-- everything up to the end of the current UTC day (of the newest row, if later). It is dropped whole
-- once the retention horizon passes that end. The partitions after it (a day of events, an hour of
-- acks) are created ahead of time by `syncpipe migrate`, `syncpipe retention` and every worker
-- (runtime/postgres/partitions.py). The new parents are made LIKE the old tables, so a column an
-- earlier migration added is carried over (0006's events.instance_id, 0009's ack_outbox.trace_parent).
-- Numbered 0010: written on a schema at 0009 (numbers 0007 and 0008 were never used on main).
--
-- A key of a partitioned table must include its partition key: the event id alone is no longer a
-- unique key. One row per event id is kept by the applier instead, which looks an event up under its
-- tenant's lock (an instance call: its instance's lock) before writing it (workers/applier/event_log.py).

-- events, by finished_at (the instant of the batch that finished the event).
ALTER TABLE events RENAME TO events_before_0010;
ALTER TABLE events_before_0010 DROP CONSTRAINT events_pkey;
ALTER INDEX events_tenant_time RENAME TO events_before_0010_tenant_time;
ALTER INDEX events_dead_lettered RENAME TO events_before_0010_dead_lettered;
ALTER INDEX events_finished_at RENAME TO events_before_0010_finished_at;
ALTER INDEX events_instance_time RENAME TO events_before_0010_instance_time;
CREATE TABLE events (LIKE events_before_0010 INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)
    PARTITION BY RANGE (finished_at);
-- The dedupe lookup (event id, and finished at or after the earliest instant the event can have
-- finished) probes this index in the partitions that can hold the event only.
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (event_id, finished_at);
CREATE INDEX events_tenant_time ON events (tenant_id, time_stamp);
CREATE INDEX events_dead_lettered ON events (finished_at) WHERE status = 'dead_lettered';
CREATE INDEX events_finished_at ON events (finished_at);
CREATE INDEX events_instance_time ON events (instance_id, time_stamp) WHERE instance_id <> '';

-- ack_outbox, by created_at (the same instant as the event's finished_at).
ALTER TABLE ack_outbox RENAME TO ack_outbox_before_0010;
ALTER TABLE ack_outbox_before_0010 DROP CONSTRAINT ack_outbox_pkey;
ALTER TABLE ack_outbox_before_0010 DROP CONSTRAINT ack_outbox_once_per_record_and_outcome;
ALTER INDEX ack_outbox_due RENAME TO ack_outbox_before_0010_due;
ALTER INDEX ack_outbox_owed_by_event RENAME TO ack_outbox_before_0010_owed_by_event;
CREATE TABLE ack_outbox (
    LIKE ack_outbox_before_0010 INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY
) PARTITION BY RANGE (created_at);
ALTER TABLE ack_outbox ADD CONSTRAINT ack_outbox_pkey PRIMARY KEY (ack_id, created_at);
-- Catches a second ack of one record and outcome within a batch; across batches enqueue_acks looks.
ALTER TABLE ack_outbox ADD CONSTRAINT ack_outbox_once_per_record_and_outcome
    UNIQUE (event_id, kafka_partition, kafka_offset, outcome, created_at);
CREATE INDEX ack_outbox_due ON ack_outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX ack_outbox_owed_by_event ON ack_outbox (event_id, ack_id) WHERE sent_at IS NULL;

DO $$
DECLARE
    events_end timestamptz;
    acks_end timestamptz;
    next_ack_id bigint;
BEGIN
    SELECT date_trunc('day', greatest(now(), max(finished_at)), 'UTC') + interval '1 day'
        INTO events_end FROM events_before_0010;
    SELECT date_trunc('day', greatest(now(), max(created_at)), 'UTC') + interval '1 day', coalesce(max(ack_id), 0) + 1
        INTO acks_end, next_ack_id FROM ack_outbox_before_0010;
    EXECUTE format('ALTER TABLE events ATTACH PARTITION events_before_0010 FOR VALUES FROM (MINVALUE) TO (%L)',
                   events_end);
    EXECUTE format('ALTER TABLE ack_outbox ATTACH PARTITION ack_outbox_before_0010 FOR VALUES FROM (MINVALUE) TO (%L)',
                   acks_end);
    -- The new parent's identity starts above every id already given: ack ids stay unique and ordered.
    EXECUTE format('ALTER TABLE ack_outbox ALTER COLUMN ack_id RESTART WITH %s', next_ack_id);
END
$$;

-- Events that finished more than a day before their own timeStamp (a sender's clock far ahead). The
-- dedupe lookup probes only partitions from a day before an event's timeStamp on, which would miss
-- them; they are looked up here instead. Rows go when their events row's partition is dropped.
CREATE TABLE early_events (
    event_id    text PRIMARY KEY,
    finished_at timestamptz NOT NULL
);

-- Per tenant, every event pruned so far folded into one state (workers/retention/checkpoints.py): what
-- `syncpipe rebuild` starts from once the tenant's oldest events are gone. One row per tenant.
CREATE TABLE tenant_checkpoints (
    tenant_id      text PRIMARY KEY,
    -- Every applied or stale event of the tenant that finished before this is folded in.
    folded_before  timestamptz NOT NULL,
    events_folded  bigint NOT NULL,
    state          jsonb NOT NULL,
    -- Archived calls that no longer validate and could not be folded: [[event id, error], ...].
    -- A rebuild refuses while this is not empty, as it refuses an unreadable retained event.
    unreadable     jsonb NOT NULL DEFAULT '[]',
    written_at     timestamptz NOT NULL DEFAULT now()
);

-- Per instance (SPEC §9), the same for its calls (workers/retention/instance_checkpoints.py): the set of
-- changes the pruned calls alone make, what `syncpipe rebuild --instance` starts from. One row per instance.
CREATE TABLE instance_checkpoints (
    instance_id    text PRIMARY KEY,
    folded_before  timestamptz NOT NULL,
    events_folded  bigint NOT NULL,
    changes        jsonb NOT NULL,     -- [LoggedChange.to_json(), ...]
    unreadable     jsonb NOT NULL DEFAULT '[]',
    written_at     timestamptz NOT NULL DEFAULT now()
);

-- What the latest prune did per history (events, sent_acks, dead_letters, uploads): the horizon it
-- applied, for the console, the metrics and `syncpipe replay`.
CREATE TABLE retention_horizons (
    history    text PRIMARY KEY,
    kept       interval NOT NULL,      -- the retention setting in force
    horizon    timestamptz NOT NULL,   -- rows older than this were pruned (or are due)
    pruned_at  timestamptz NOT NULL
);
