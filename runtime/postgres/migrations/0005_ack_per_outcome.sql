-- An event can owe a second ack with a different outcome: a dead letter retried after a fix goes
-- from `dead_lettered` to `applied`, and the platform must hear the new outcome. A record delivered
-- again with the same outcome still owes nothing new.
ALTER TABLE ack_outbox ADD COLUMN outcome text;
UPDATE ack_outbox SET outcome = body->>'status';
ALTER TABLE ack_outbox ALTER COLUMN outcome SET NOT NULL;
ALTER TABLE ack_outbox DROP CONSTRAINT ack_outbox_event_id_kafka_partition_kafka_offset_key;
ALTER TABLE ack_outbox ADD CONSTRAINT ack_outbox_once_per_record_and_outcome
    UNIQUE (event_id, kafka_partition, kafka_offset, outcome);
