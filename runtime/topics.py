"""The Kafka topics syncpipe needs, created on start by every process that uses them.

Each topic is created with the configured partitions and replication and these topic configs:
`min.insync.replicas` (an acks=all write counts once that many replicas hold it), `max.message.bytes`
(the largest record batch syncpipe produces, see `max_message_bytes`) and `retention.ms`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from runtime.outages import is_retriable
from runtime.settings import Settings

log = logging.getLogger(__name__)

# A broker restart (a JVM start plus log recovery) takes seconds to tens of seconds on a small machine.
_BROKER_AWAY_S = 90.0
# Asked again this often meanwhile: a broker back is noticed within half a second.
_BROKER_RETRY_S = 0.5
# Creating a topic is a controller round trip; a broker that has not answered in this long is down.
_ADMIN_TIMEOUT_MS = 30_000
# The gateway fills record batches of small calls up to this size (gateway.publisher).
PRODUCER_BATCH_BYTES = 512 * 1024
# What a record adds to its value: key (a tenant id), headers (event id, interface, part) and the
# record and batch framing. A few hundred bytes in fact; the slack costs nothing. Every producer may
# send that much more than max_record_bytes, and the topics take it.
RECORD_OVERHEAD_BYTES = 64 * 1024
# A new topic's metadata reaches every broker in milliseconds; past this, a partition count is not checked.
_METADATA_SPREAD_S = 5.0
_METADATA_RETRY_S = 0.05
# From this many replicas on, one may fail while acks=all writes still need two copies.
_REPLICAS_FOR_TWO_INSYNC = 3


class TopicSetupError(RuntimeError):
    """A topic could neither be created nor found."""


async def ensure_topics(settings: Settings) -> None:
    """Create the events and dead-letter topics if they are missing; idempotent and safe to race.

    An existing topic is used as it is (partitions, replication, configs); if its partition count
    differs from the configured one a warning says so (changing it would move tenants between
    partitions, an operator's decision). A broker that is away (a node of the cluster killed or
    restarting) is waited for up to _BROKER_AWAY_S, as the worker waits out any outage: a process
    (re)started during a broker fault must not exit over it (found by tests/faults).
    """
    if not settings.kafka_bootstrap_servers:
        raise ValueError("kafka_bootstrap_servers is not set")
    deadline = asyncio.get_running_loop().time() + _BROKER_AWAY_S
    while True:
        try:
            await _ensure_topics_once(settings)
            return
        except Exception as exc:
            if not is_retriable(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("topics not ensured yet, a broker is away (%r); retrying", exc)
            await asyncio.sleep(_BROKER_RETRY_S)


async def _ensure_topics_once(settings: Settings) -> None:
    assert settings.kafka_bootstrap_servers is not None
    wanted = (settings.events_topic, settings.dead_letter_topic)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=_ADMIN_TIMEOUT_MS
    )
    await admin.start()
    try:
        configs = topic_configs(settings)
        replication = settings.topic_replication_factor
        response = await admin.create_topics(
            [NewTopic(name, settings.topic_partitions, replication, topic_configs=configs) for name in wanted]
        )
        existing = _created_or_existing(response.to_object()["topic_errors"])
        if existing:
            _warn_on_partition_mismatch(await _describe_once_known(admin, existing), settings.topic_partitions)
    finally:
        await admin.close()


def topic_configs(settings: Settings) -> dict[str, str]:
    """The configs a new topic gets (an existing one keeps its own)."""
    return {
        "min.insync.replicas": str(min_insync_replicas(settings)),
        "max.message.bytes": str(max_message_bytes(settings)),
        "retention.ms": str(settings.topic_retention_ms),
    }


def min_insync_replicas(settings: Settings) -> int:
    """SYNCPIPE_TOPIC_MIN_INSYNC_REPLICAS, else `default_min_insync_replicas` of the replication factor."""
    if settings.topic_min_insync_replicas is not None:
        return settings.topic_min_insync_replicas
    return default_min_insync_replicas(settings.topic_replication_factor)


def default_min_insync_replicas(replication: int) -> int:
    """2 from three replicas up: a write survives one lost node, and with two gone it is refused rather
    than acknowledged with a single copy. Else 1 (fewer replicas cannot spare one)."""
    return 2 if replication >= _REPLICAS_FOR_TWO_INSYNC else 1


def max_message_bytes(settings: Settings) -> int:
    """The largest record batch syncpipe produces, which its topics must accept: a full batch of small
    calls, or one record of SYNCPIPE_MAX_RECORD_BYTES of value (larger envelopes travel in parts) with
    its key, headers and framing. Set per topic, it follows the setting wherever the broker's own
    limit (1 MB by default) stands."""
    return max(PRODUCER_BATCH_BYTES, settings.max_record_bytes + RECORD_OVERHEAD_BYTES)


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


async def _describe_once_known(admin: AIOKafkaAdminClient, topics: list[str]) -> list[dict[str, Any]]:
    """The topics' descriptions, asked again while the broker does not know one of them yet: Apache
    Kafka spreads a new topic's metadata to its brokers after CreateTopics has answered, so a topic
    created a moment ago (by a process racing us) may be unknown here for a few milliseconds."""
    deadline = asyncio.get_running_loop().time() + _METADATA_SPREAD_S
    while True:
        descriptions: list[dict[str, Any]] = await admin.describe_topics(topics)
        if all(description["error_code"] == 0 for description in descriptions):
            return descriptions
        if asyncio.get_running_loop().time() > deadline:
            return [description for description in descriptions if description["error_code"] == 0]
        await asyncio.sleep(_METADATA_RETRY_S)


def _warn_on_partition_mismatch(descriptions: list[dict[str, Any]], partitions: int) -> None:
    for description in descriptions:
        found = len(description["partitions"])
        if found != partitions:
            log.warning(
                "topic %s has %d partitions, configured %d: left as it is", description["topic"], found, partitions
            )
