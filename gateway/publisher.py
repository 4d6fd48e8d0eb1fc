"""Where accepted calls go: the events topic, acknowledged by every in-sync replica before we answer.

Delivery is at least once: idempotent production is off (not every Kafka-protocol broker supports it,
the embedded Tansu among them), so a retried batch can be written twice. That is safe because event
ids are deterministic (SPEC §4) and consumers deduplicate on them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from gateway.errors import NotStored
from schemas.envelope import EventEnvelope, encode_event
from syncpipe.settings import Settings

log = logging.getLogger(__name__)

# No waiting for company: the producer keeps one produce request in flight per broker, and calls
# arriving meanwhile share the next one anyway. Lingering 5 ms added 5 ms to every call's latency
# and capped a connection at ~200 calls/s, and batched no better under load.
_LINGER_MS = 0
# Room for many small calls per partition in one batch, still under a broker's default 1 MB message limit.
_MAX_BATCH_BYTES = 512 * 1024
# A record carries up to max_record_bytes of value plus its key, headers and batch framing.
_RECORD_OVERHEAD_BYTES = 64 * 1024
# The producer gives up on a batch at its first failed attempt after this share of produce_timeout_s,
# so by the time we answer 000005 its records are failed and cannot land when the broker returns; the
# rest leaves room for that last attempt (100 ms backoff plus a connect). Only a request already on
# the wire to a hung broker can still land late, and a re-sent call then gets the same event id.
_GIVE_UP_FRACTION = 0.8
# Health probes are answered from a result this fresh, so a busy prober cannot load the broker.
_HEALTH_CACHE_S = 1.0
_HEALTH_TIMEOUT_S = 1.0


class EventPublisher(Protocol):
    async def publish(self, envelope: EventEnvelope) -> None:
        """Return only once every record of `envelope` is acknowledged; otherwise raise NotStored."""

    async def is_reachable(self) -> bool:
        """Whether the broker answers now (for the health check)."""


class KafkaEventPublisher:
    """EventPublisher on an aiokafka producer with acks=all. `async with` or start()/stop()."""

    def __init__(self, settings: Settings) -> None:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("kafka_bootstrap_servers is not set")
        self._bootstrap_servers = settings.kafka_bootstrap_servers
        self._topic = settings.events_topic
        self._max_record_bytes = settings.max_record_bytes
        self._timeout_s = settings.produce_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._health_lock = asyncio.Lock()
        self._health: tuple[float, bool] = (float("-inf"), False)

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            acks="all",
            enable_idempotence=False,
            linger_ms=_LINGER_MS,
            max_batch_size=_MAX_BATCH_BYTES,
            max_request_size=self._max_record_bytes + _RECORD_OVERHEAD_BYTES,
            request_timeout_ms=int(self._timeout_s * _GIVE_UP_FRACTION * 1000),
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()  # releases the connections of a half-started producer
            raise
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def __aenter__(self) -> KafkaEventPublisher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def publish(self, envelope: EventEnvelope) -> None:
        """Send the envelope's records (several parts for a large one: same key, so same partition, in
        order) and return once each is acknowledged, all within produce_timeout_s; else NotStored.

        Each part is sent only after the previous one was acknowledged. That costs nothing (the
        producer sends one batch per partition at a time anyway) and means a refused upload leaves
        at most a prefix of its parts, which no consumer will ever assemble (see schemas.envelope).
        """
        producer = self._started()
        try:
            async with asyncio.timeout(self._timeout_s):
                for record in encode_event(envelope, self._max_record_bytes):
                    delivery = await producer.send(
                        self._topic, value=record.value, key=record.key, headers=record.headers
                    )
                    await delivery
        except TimeoutError:
            raise NotStored(f"the broker did not acknowledge within {self._timeout_s:g} s; try again") from None
        except KafkaError as exc:
            raise NotStored(f"the broker did not store the event ({type(exc).__name__}); try again") from None

    async def is_reachable(self) -> bool:
        async with self._health_lock:
            checked_at, reachable = self._health
            if time.monotonic() - checked_at >= _HEALTH_CACHE_S:
                reachable = await self._probe()
                self._health = (time.monotonic(), reachable)
            return reachable

    async def _probe(self) -> bool:
        producer = self._producer
        if producer is None:
            return False
        try:
            async with asyncio.timeout(_HEALTH_TIMEOUT_S):
                await producer.client.fetch_all_metadata()
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("broker unreachable: %s", type(exc).__name__)
            return False
        return True

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise NotStored("the gateway is not connected to the broker; try again")
        return self._producer
