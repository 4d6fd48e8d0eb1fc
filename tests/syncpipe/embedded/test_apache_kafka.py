"""The embedded Apache Kafka: real JVM nodes take acks=all writes, give them back, and survive what
a real cluster survives (a node killed or hung and brought back), and no more than that."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from runtime.settings import Settings
from runtime.topics import ensure_topics
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster
from tests.syncpipe.embedded.kafka_client import consume, create_topic, new_topic_name, produce_all

pytestmark = pytest.mark.integration

# A write the cluster can take is acknowledged in milliseconds; leadership moving after a node is
# lost takes a few seconds (controller election, then partition leaders).
_WRITE_BOUND_S = 30.0
# A write the cluster must refuse: the producer gives up after its request timeout.
_REFUSED_WITHIN_S = 15.0
_REQUEST_TIMEOUT_MS = 5_000


async def test_one_node_gives_back_what_it_acknowledged(apache_kafka: ApacheKafkaCluster) -> None:
    topic = new_topic_name()
    await create_topic(apache_kafka.bootstrap_servers, topic, partitions=2, replication=1)
    records = [(f"tenant-{n % 3}".encode(), f"event {n}".encode()) for n in range(50)]
    await produce_all(apache_kafka.bootstrap_servers, topic, records)
    consumed = await consume(apache_kafka.bootstrap_servers, topic, len(records))
    assert sorted(consumed) == sorted(records)
    for key in {key for key, _ in records}:  # per key (so per partition), in the order written
        assert [value for k, value in consumed if k == key] == [value for k, value in records if k == key]


async def test_three_nodes_replicate_every_partition_to_all_of_them(apache_cluster: ApacheKafkaCluster) -> None:
    settings = Settings(
        kafka_bootstrap_servers=apache_cluster.bootstrap_servers,
        events_topic=new_topic_name(),
        dead_letter_topic=new_topic_name(),
        topic_partitions=3,
        topic_replication_factor=3,
    )
    await ensure_topics(settings)
    records = [(f"tenant-{n}".encode(), b"x" * n) for n in range(30)]
    await produce_all(apache_cluster.bootstrap_servers, settings.events_topic, records)
    assert sorted(await consume(apache_cluster.bootstrap_servers, settings.events_topic, len(records))) == sorted(
        records
    )


async def test_a_killed_node_restarts_on_its_data_and_port(apache_kafka: ApacheKafkaCluster) -> None:
    topic = new_topic_name()
    await create_topic(apache_kafka.bootstrap_servers, topic, partitions=1, replication=1)
    await produce_all(apache_kafka.bootstrap_servers, topic, [(b"k", b"before the crash")])
    node = apache_kafka.nodes[0]
    port, pid = node.address.port, node.pid
    node.kill()
    node.restart()
    assert node.address.port == port
    assert node.pid != pid
    await produce_all(apache_kafka.bootstrap_servers, topic, [(b"k", b"after the crash")])
    assert await consume(apache_kafka.bootstrap_servers, topic, 2) == [
        (b"k", b"before the crash"),
        (b"k", b"after the crash"),
    ]


async def test_a_hung_node_takes_no_write_until_it_resumes(apache_kafka: ApacheKafkaCluster) -> None:
    topic = new_topic_name()
    await create_topic(apache_kafka.bootstrap_servers, topic, partitions=1, replication=1)
    async with acks_all_producer(apache_kafka.bootstrap_servers) as producer:
        node = apache_kafka.nodes[0]
        node.pause()
        try:
            await _assert_refused(producer, topic)
        finally:
            node.resume()
        await _assert_taken(producer, topic)


async def test_with_min_insync_2_one_lost_node_is_survived_and_two_refuse_writes(
    apache_cluster: ApacheKafkaCluster,
) -> None:
    """Replication 3 and min.insync.replicas 2 (the defaults for three replicas): one node down, acks=all
    writes go on; two down, none is acknowledged (the quorum is gone too: three combined nodes);
    both back, writes are taken again."""
    settings = Settings(
        kafka_bootstrap_servers=apache_cluster.bootstrap_servers,
        events_topic=new_topic_name(),
        dead_letter_topic=new_topic_name(),
        topic_partitions=1,
        topic_replication_factor=3,
    )
    await ensure_topics(settings)
    first, second, survivor = apache_cluster.nodes
    try:
        async with acks_all_producer(survivor.bootstrap_servers) as producer:
            await _assert_taken(producer, settings.events_topic)
            first.kill()
            await _assert_taken(producer, settings.events_topic)
            second.kill()
            await _assert_refused(producer, settings.events_topic)
            first.launch()
            second.launch()
            apache_cluster.wait_until_serving()
            await _assert_taken(producer, settings.events_topic)
    finally:
        for node in (first, second):
            if node.pid is None:
                node.restart()


@contextlib.asynccontextmanager
async def acks_all_producer(bootstrap_servers: str) -> AsyncIterator[AIOKafkaProducer]:
    """An acks=all producer that gives a request up after _REQUEST_TIMEOUT_MS."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", request_timeout_ms=_REQUEST_TIMEOUT_MS)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def _assert_taken(producer: AIOKafkaProducer, topic: str) -> None:
    """A write is acknowledged within _WRITE_BOUND_S (retrying while leadership moves)."""
    deadline = time.monotonic() + _WRITE_BOUND_S
    while True:
        try:
            async with asyncio.timeout(_REFUSED_WITHIN_S):
                await producer.send_and_wait(topic, b"taken", key=b"k")
            return
        except (KafkaError, TimeoutError):
            if time.monotonic() > deadline:
                raise


async def _assert_refused(producer: AIOKafkaProducer, topic: str) -> None:
    """A write fails within _REFUSED_WITHIN_S: never acknowledged."""
    started = time.monotonic()
    with pytest.raises((KafkaError, TimeoutError)):
        async with asyncio.timeout(_REFUSED_WITHIN_S):
            await producer.send_and_wait(topic, b"refused", key=b"k")
    assert time.monotonic() - started <= _REFUSED_WITHIN_S + 1
