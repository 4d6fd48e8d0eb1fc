"""Plain aiokafka produce and consume, for tests of the brokers themselves."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

# Generous bounds for a loaded two-core machine; an answer normally takes milliseconds.
READ_TIMEOUT_S = 30.0


def new_topic_name() -> str:
    return f"embedded-{uuid.uuid4().hex[:12]}"


async def create_topic(bootstrap_servers: str, name: str, partitions: int, replication: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, partitions, replication)])
        assert response.to_object()["topic_errors"][0]["error_code"] == 0, response
    finally:
        await admin.close()


async def produce_all(bootstrap_servers: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Each (key, value) with acks=all, in order; returns once every one is acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def consume(bootstrap_servers: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    """The first `count` records of `topic` from its start, as (key, value), by partition then offset."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    records.sort(key=lambda record: (record.partition, record.offset))
    return [(record.key, record.value) for record in records]
