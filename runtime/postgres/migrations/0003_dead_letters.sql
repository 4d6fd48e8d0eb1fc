-- Dead letters kept in Postgres (SPEC §8): the raw record of every event that could not apply, with
-- its reason, written in the same transaction as the event's `dead_lettered` row in `events`. The
-- dead-letter topic is for alerting and other consumers; this table is what `syncpipe dlq` lists,
-- re-drives (`retry`: decode the stored record again with the current code, apply it) and drops.
CREATE TABLE dead_letters (
    dead_letter_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         text NOT NULL,
    tenant_id        text NOT NULL,
    interface        text NOT NULL,               -- as the record's header named it ('unknown' if none)
    reason           text NOT NULL,               -- the latest failure
    -- Where the record came from. A record is dead-lettered at most once per row: a retry that
    -- fails again updates this row (reason, failures) instead of adding another.
    source_topic     text NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    -- The record as consumed. For an upload that arrived in parts and then failed validation the
    -- value is the whole envelope, joined (the parts are gone by then) and `joined_parts` is true.
    record_key       bytea,
    record_value     bytea,
    headers          jsonb NOT NULL,              -- [[name, base64 value], ...] in record order
    joined_parts     boolean NOT NULL DEFAULT false,
    state            text NOT NULL DEFAULT 'dead' CHECK (state IN ('dead', 'retried', 'dropped')),
    failures         integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    failed_at        timestamptz NOT NULL DEFAULT now(),  -- the latest failure
    retried_at       timestamptz,                  -- the latest retry, whatever its outcome
    retry_status     text,                         -- the event's status after that retry
    dropped_at       timestamptz,
    UNIQUE (source_topic, source_partition, source_offset)
);
-- What `dlq list` shows by default: the letters still waiting for a decision, per tenant.
CREATE INDEX dead_letters_waiting ON dead_letters (tenant_id, dead_letter_id) WHERE state = 'dead';
CREATE INDEX dead_letters_event ON dead_letters (event_id);
