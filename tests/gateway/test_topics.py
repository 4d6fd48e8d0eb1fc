"""ensure_topics (runtime.topics, called by the gateway at start and by the workers): idempotent, never destructive."""

from __future__ import annotations

import logging

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from runtime.settings import Settings
from runtime.topics import ensure_topics

pytestmark = pytest.mark.integration


async def partition_counts(settings: Settings) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topics = await admin.describe_topics([settings.events_topic, settings.dead_letter_topic])
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


async def test_the_events_topic_keeps_records_as_long_as_configured(settings: Settings) -> None:
    """What bounds `syncpipe replay` (docs/retention.md): the topic's retention.ms, set at creation."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    await ensure_topics(settings.model_copy(update={"events_topic_retention_hours": 36}))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.events_topic)])
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = response.resources
    configs = {entry[0]: entry[1] for entry in entries}
    assert configs["retention.ms"] == str(36 * 3_600_000)
