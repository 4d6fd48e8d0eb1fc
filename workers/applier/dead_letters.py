"""The dead-letter topic: records that can never apply, with their reason in a header."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from runtime.settings import Settings
from runtime.topics import RECORD_OVERHEAD_BYTES
from workers.applier.errors import DeadLetterNotStored
from workers.applier.records import DeadLetter


def dead_letter_producer(settings: Settings) -> AIOKafkaProducer:
    """The producer a `KafkaDeadLetterSink` sends with (not started): acks=all, room for a whole part."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        max_request_size=settings.max_record_bytes + RECORD_OVERHEAD_BYTES,
    )


class KafkaDeadLetterSink:
    """Copies each dead record (value and headers as they were) to the dead-letter topic, adding
    its reason and where it came from, and waits for the broker's acks=all."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout_s: float) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout_s = timeout_s

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                futures = []
                for letter in letters:
                    record = letter.record
                    headers = [
                        *record.headers,
                        ("syncpipe-dead-letter-reason", letter.reason.encode()),
                        ("syncpipe-dead-letter-event-id", letter.event_id.encode()),
                        ("syncpipe-source", f"{record.topic}:{record.partition}:{record.offset}".encode()),
                    ]
                    futures.append(
                        await self._producer.send(self._topic, value=record.value, key=record.key, headers=headers)
                    )
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as exc:
            message = f"dead-letter topic {self._topic} did not take {len(letters)} letters: {exc!r}"
            raise DeadLetterNotStored(message) from exc
