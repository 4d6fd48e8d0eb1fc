"""ensure_topics (runtime.topics, called by the gateway at start and by the workers): idempotent, never destructive."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from runtime.settings import Settings
from runtime.topics import PRODUCER_BATCH_BYTES, RECORD_OVERHEAD_BYTES, ensure_topics, topic_configs

pytestmark = pytest.mark.integration

# Metadata spreads in milliseconds; this bounds a loaded machine.
_METADATA_TIMEOUT_S = 10.0


async def partition_counts(settings: Settings) -> dict[str, int]:
    """Partitions per topic, once the broker knows both (Apache Kafka learns of a new topic a moment
    after CreateTopics answered)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        async with asyncio.timeout(_METADATA_TIMEOUT_S):
            while True:
                topics = await admin.describe_topics([settings.events_topic, settings.dead_letter_topic])
                if all(topic["error_code"] == 0 for topic in topics):
                    break
                await asyncio.sleep(0.05)
    finally:
        await admin.close()
    return {topic["topic"]: len(topic["partitions"]) for topic in topics}


async def test_topics_are_created_once_and_then_left_alone(settings: Settings) -> None:
    await ensure_topics(settings)
    await ensure_topics(settings)
    assert await partition_counts(settings) == {settings.events_topic: 4, settings.dead_letter_topic: 4}


async def test_a_different_partition_count_is_reported_not_changed(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await ensure_topics(settings)
    with caplog.at_level(logging.WARNING, logger="runtime.topics"):
        await ensure_topics(settings.model_copy(update={"topic_partitions": 6}))
    assert await partition_counts(settings) == {settings.events_topic: 4, settings.dead_letter_topic: 4}
    warnings = [record.getMessage() for record in caplog.records if record.name == "runtime.topics"]
    assert any(settings.events_topic in message and "has 4 partitions, configured 6" in message for message in warnings)


async def test_without_a_broker_address_nothing_is_attempted() -> None:
    with pytest.raises(ValueError, match="kafka_bootstrap_servers"):
        await ensure_topics(Settings(kafka_bootstrap_servers=None))


def test_new_topics_get_min_insync_2_from_three_replicas_and_the_record_limit_with_headroom() -> None:
    assert topic_configs(Settings(topic_replication_factor=3)) == {
        "min.insync.replicas": "2",
        "max.message.bytes": str(900_000 + RECORD_OVERHEAD_BYTES),
        "retention.ms": "604800000",
    }
    assert topic_configs(Settings(topic_replication_factor=2))["min.insync.replicas"] == "1"
    assert (
        topic_configs(Settings(topic_replication_factor=5, topic_min_insync_replicas=3))["min.insync.replicas"] == "3"
    )


def test_a_small_record_limit_still_admits_the_gateways_full_batches() -> None:
    assert topic_configs(Settings(max_record_bytes=10_000))["max.message.bytes"] == str(PRODUCER_BATCH_BYTES)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"topic_replication_factor": 1, "topic_min_insync_replicas": 2}, "SYNCPIPE_TOPIC_MIN_INSYNC_REPLICAS"),
        ({"topic_retention_ms": 0}, "SYNCPIPE_TOPIC_RETENTION_MS"),
    ],
)
def test_topic_settings_kafka_would_refuse_every_write_with_are_refused(overrides: dict[str, int], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(**overrides)  # type: ignore[arg-type]
