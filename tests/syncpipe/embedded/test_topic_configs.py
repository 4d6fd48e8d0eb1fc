"""ensure_topics on a real cluster: what it asks for is what the broker holds (read back, not assumed)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from runtime.settings import Settings
from runtime.topics import RECORD_OVERHEAD_BYTES, ensure_topics
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster
from tests.syncpipe.embedded.kafka_client import consume, new_topic_name, produce_all

pytestmark = pytest.mark.integration

_CONFIGS = ("min.insync.replicas", "max.message.bytes", "retention.ms")


async def topic_state(bootstrap_servers: str, topic: str) -> dict[str, Any]:
    """The topic's configs of interest as the broker reports them, and its replication per partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [resource] = answer.to_object()["resources"]
    assert resource["error_code"] == 0, resource
    configs = {entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]}
    return {
        **{name: configs[name] for name in _CONFIGS},
        "replicas": {len(partition["replicas"]) for partition in described["partitions"]},
        "isr": {len(partition["isr"]) for partition in described["partitions"]},
    }


def settings_for(cluster: ApacheKafkaCluster, **overrides: Any) -> Settings:
    return Settings(
        kafka_bootstrap_servers=cluster.bootstrap_servers,
        events_topic=new_topic_name(),
        dead_letter_topic=new_topic_name(),
        topic_partitions=2,
        **overrides,
    )


async def test_three_replicas_get_min_insync_2_and_the_record_limit_with_its_headroom(
    apache_cluster: ApacheKafkaCluster,
) -> None:
    settings = settings_for(apache_cluster, topic_replication_factor=3)
    await ensure_topics(settings)
    expected = {
        "min.insync.replicas": "2",
        "max.message.bytes": str(900_000 + RECORD_OVERHEAD_BYTES),
        "retention.ms": str(7 * 24 * 3600 * 1000),
        "replicas": {3},
        "isr": {3},
    }
    for topic in (settings.events_topic, settings.dead_letter_topic):
        assert await topic_state(apache_cluster.bootstrap_servers, topic) == expected


async def test_one_replica_gets_min_insync_1_and_configured_values_win(apache_kafka: ApacheKafkaCluster) -> None:
    settings = settings_for(apache_kafka, topic_retention_ms=3_600_000, max_record_bytes=2_000_000)
    await ensure_topics(settings)
    assert await topic_state(apache_kafka.bootstrap_servers, settings.events_topic) == {
        "min.insync.replicas": "1",
        "max.message.bytes": str(2_000_000 + RECORD_OVERHEAD_BYTES),
        "retention.ms": "3600000",
        "replicas": {1},
        "isr": {1},
    }


async def test_a_record_above_the_brokers_1_mb_default_is_taken_when_the_setting_allows_it(
    apache_kafka: ApacheKafkaCluster,
) -> None:
    """The broker's own limit (message.max.bytes, ~1 MB) would refuse it: the topic's config is what
    lets a 1.5 MB record of SYNCPIPE_MAX_RECORD_BYTES=2000000 in."""
    settings = settings_for(apache_kafka, max_record_bytes=2_000_000)
    await ensure_topics(settings)
    record = (b"tenant", b"x" * 1_500_000)
    await produce_all(apache_kafka.bootstrap_servers, settings.events_topic, [record])
    assert await consume(apache_kafka.bootstrap_servers, settings.events_topic, 1) == [record]


async def test_a_topic_that_exists_keeps_its_configs(apache_kafka: ApacheKafkaCluster) -> None:
    settings = settings_for(apache_kafka)
    await ensure_topics(settings)
    await ensure_topics(settings.model_copy(update={"topic_retention_ms": 60_000}))
    state = await topic_state(apache_kafka.bootstrap_servers, settings.events_topic)
    assert state["retention.ms"] == str(7 * 24 * 3600 * 1000)
