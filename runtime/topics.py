"""The Kafka topics syncpipe needs, created on start by every process that uses them."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from runtime.settings import Settings

log = logging.getLogger(__name__)

# A record carries up to max_record_bytes of value plus its key, headers and batch framing: every
# producer may send that much more, and the topics must take it.
RECORD_OVERHEAD_BYTES = 64 * 1024
# Creating a topic is a controller round trip; a broker that has not answered in this long is down.
_ADMIN_TIMEOUT_MS = 30_000


class TopicSetupError(RuntimeError):
    """A topic could neither be created nor found."""


async def ensure_topics(settings: Settings) -> None:
    """Create the events and dead-letter topics if they are missing; idempotent and safe to race.

    An existing topic is used as it is; if its partition count differs from the configured one a
    warning says so (changing it would move tenants between partitions, an operator's decision).
    The events topic is created with `retention.ms` = SYNCPIPE_EVENTS_TOPIC_RETENTION_HOURS: how far
    back `syncpipe replay` reaches (docs/retention.md); an existing topic keeps its own.
    """
    if not settings.kafka_bootstrap_servers:
        raise ValueError("kafka_bootstrap_servers is not set")
    wanted = (settings.events_topic, settings.dead_letter_topic)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=_ADMIN_TIMEOUT_MS
    )
    await admin.start()
    try:
        retention_ms = str(settings.events_topic_retention_hours * 3_600_000)
        response = await admin.create_topics(
            [
                NewTopic(
                    name,
                    settings.topic_partitions,
                    settings.topic_replication_factor,
                    topic_configs={"retention.ms": retention_ms} if name == settings.events_topic else None,
                )
                for name in wanted
            ]
        )
        existing = _created_or_existing(response.to_object()["topic_errors"])
        if existing:
            _warn_on_partition_mismatch(await admin.describe_topics(existing), settings.topic_partitions)
    finally:
        await admin.close()


def _created_or_existing(results: list[dict[str, Any]]) -> list[str]:
    """The topics that already existed; raise TopicSetupError for any other failure."""
    existing: list[str] = []
    for result in results:
        topic, code = result["topic"], result["error_code"]
        if code == 0:
            log.info("created topic %s", topic)
        elif code == TopicAlreadyExistsError.errno:
            existing.append(topic)
        else:
            message = result.get("error_message") or for_code(code).__name__
            raise TopicSetupError(f"cannot create topic {topic}: {message}")
    return existing


def _warn_on_partition_mismatch(descriptions: list[dict[str, Any]], partitions: int) -> None:
    for description in descriptions:
        found = len(description["partitions"])
        if found != partitions:
            log.warning(
                "topic %s has %d partitions, configured %d: left as it is", description["topic"], found, partitions
            )
