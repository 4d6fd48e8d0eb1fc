-- Acknowledgements owed to the platform (SPEC §6): a transactional outbox. A row is written in the
-- same transaction as the event's final status (workers/applier/batch.py), so a committed event
-- always has its ack row; ackers send the rows afterwards and mark them sent. See workers/acks/outbox.py.
CREATE TABLE ack_outbox (
    ack_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text NOT NULL,
    -- The Kafka record that finished the event: a re-delivered record never owes a second ack,
    -- while a re-sent call (another record, same event id) owes its own `duplicate` ack.
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    body            jsonb NOT NULL,               -- exactly the ack to POST (schemas/ack.py)
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- also the lease of a claimed row
    attempts        integer NOT NULL DEFAULT 0,   -- POSTs started, the one in flight included
    last_error      text,
    sent_at         timestamptz,                  -- NULL: still owed
    UNIQUE (event_id, kafka_partition, kafka_offset)
);
-- What ackers poll: only the rows still owed, by when they are due.
CREATE INDEX ack_outbox_due ON ack_outbox (next_attempt_at) WHERE sent_at IS NULL;
-- The oldest ack an event still owes, found per claimed row: an event's acks go out in order.
CREATE INDEX ack_outbox_owed_by_event ON ack_outbox (event_id, ack_id) WHERE sent_at IS NULL;
