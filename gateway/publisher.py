"""Where accepted calls go: the events topic, acknowledged by every in-sync replica before we answer.

Delivery is at least once: a retried batch can be written twice. That is safe because event ids are
deterministic (SPEC §4) and consumers deduplicate on them. Idempotent production, which would write
it once, is off unless SYNCPIPE_PRODUCER_IDEMPOTENCE asks for it, and then the broker must grant a
producer id (Apache Kafka does; the embedded Tansu lists InitProducerId among its ApiVersions but
answers it with an error, so the start fails, naming the setting). It is a trade, not a free gain:
aiokafka's idempotent producer never gives up on a batch, so a call answered 000005 while the broker
is away is still written once it is back (applied once: a re-send carries the same event id), and it
cannot recover from an out-of-order sequence (no epoch bump), which leaves it unable to send.

Records are batched here rather than one `producer.send` each: every call handled in one turn of the
event loop joins its partition's queue, and one task per partition moves the queue into record
batches (`create_batch` / `send_batch`) as fast as the producer drains them. Per call that is a
dictionary lookup, an append and a future; the producer's per-record path (serialising, the
partitioner's pure-Python murmur2, a future and a timer per call) cost a sixth of the gateway's CPU.
Keys go to the partitions the producer's default partitioner would pick, so a tenant's events share
one partition whoever writes them.

A call is answered 000005 at its deadline if its batch is not acknowledged by then. A batch that
was already handed to the producer may still be written afterwards (the producer gives up on it
only at its first failed attempt after 0.8 × produce_timeout_s): the platform's retry then gets
the same event id and is applied once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import NamedTuple, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.partitioner import murmur2

from gateway.errors import NotStored
from runtime.settings import Settings
from runtime.topics import PRODUCER_BATCH_BYTES, RECORD_OVERHEAD_BYTES
from runtime.tracing import traceparent_headers
from schemas.envelope import KafkaRecord

log = logging.getLogger(__name__)

# An idempotent producer asks for its producer id until it gets one; a broker that cannot grant one in
# this long (no controller quorum) fails the start, as an unreachable one does.
_START_TIMEOUT_S = 30.0
# The producer gives up on a batch at its first failed attempt after this share of produce_timeout_s,
# leaving room for that last attempt (100 ms backoff plus a connect).
_GIVE_UP_FRACTION = 0.8
# Tenants whose partition is remembered; past this the memory starts again (a hash away).
_PARTITION_CACHE_SIZE = 100_000


class IdempotenceRefused(RuntimeError):
    """SYNCPIPE_PRODUCER_IDEMPOTENCE is on and the broker does not grant producer ids."""


class EventPublisher(Protocol):
    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        """Return only once every record of an event (schemas.envelope.encode_event, or
        schemas.instance_envelope.encode_instance_event) is acknowledged; otherwise raise NotStored."""

    async def is_reachable(self) -> bool:
        """Whether the broker answers now (for the health check)."""


class _Queued(NamedTuple):
    record: KafkaRecord
    deadline: float  # event loop time by which the call must be answered
    delivered: asyncio.Future[None]


class KafkaEventPublisher:
    """EventPublisher on an aiokafka producer with acks=all. `async with` or start()/stop()."""

    def __init__(self, settings: Settings) -> None:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("kafka_bootstrap_servers is not set")
        self._bootstrap_servers = settings.kafka_bootstrap_servers
        self._topic = settings.events_topic
        self._max_record_bytes = settings.max_record_bytes
        self._timeout_s = settings.produce_timeout_s
        self.idempotent = settings.producer_idempotence
        self._producer: AIOKafkaProducer | None = None
        self._queues: dict[int, deque[_Queued]] = {}
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._partitions: dict[bytes, int] = {}
        self._partition_count = 0

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            acks="all",
            enable_idempotence=self.idempotent,
            # No waiting for company: batches form behind the request in flight anyway.
            linger_ms=0,
            # Room for many small calls per partition in one batch; the topics accept it (runtime.topics).
            max_batch_size=PRODUCER_BATCH_BYTES,
            max_request_size=self._max_record_bytes + RECORD_OVERHEAD_BYTES,
            request_timeout_ms=int(self._timeout_s * _GIVE_UP_FRACTION * 1000),
        )
        try:
            try:
                async with asyncio.timeout(_START_TIMEOUT_S):
                    await producer.start()  # an idempotent producer also gets its producer id here
            except KafkaError as exc:
                if self.idempotent and not isinstance(exc, KafkaConnectionError):
                    message = f"the broker refused a producer id ({type(exc).__name__}): no idempotent writes there"
                    raise IdempotenceRefused(f"{message}; unset SYNCPIPE_PRODUCER_IDEMPOTENCE") from exc
                raise
            await producer.partitions_for(self._topic)  # metadata of the topic, before the first call
        except BaseException:
            await producer.stop()  # releases the connections of a half-started producer
            raise
        self._producer = producer

    async def stop(self) -> None:
        """Wait for the records queued so far (each within its call's deadline), then stop the producer."""
        if self._senders:
            await asyncio.gather(*self._senders.values(), return_exceptions=True)
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

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        """Send an event's records (several parts for a large one: same key, so same partition, in
        order) and return once each is acknowledged, all within produce_timeout_s; else NotStored.

        Each part is queued only after the previous one was acknowledged, so a refused upload leaves
        at most a prefix of its parts, which no consumer will ever assemble (see schemas.envelope).
        An instance call is one record, keyed by its instance (the gateway bounds its body to fit).
        """
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        trace = traceparent_headers()  # the caller's span: records encoded in a parsing process have none
        for record in records:
            await self._queue(record._replace(headers=[*record.headers, *trace]) if trace else record, deadline)

    def _queue(self, record: KafkaRecord, deadline: float) -> asyncio.Future[None]:
        """The future of `record`'s acknowledgement: its result once the broker has it, NotStored
        (set by its deadline at the latest) if not."""
        producer = self._started()
        partition = self._partition_of(producer, record.key)
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(partition)
        if queue is None:
            queue = self._queues[partition] = deque()
        queue.append(_Queued(record, deadline, delivered))
        if partition not in self._senders:
            self._senders[partition] = asyncio.create_task(self._send_queue(producer, partition, queue))
        return delivered

    def _partition_of(self, producer: AIOKafkaProducer, key: bytes) -> int:
        """The partition the producer's default partitioner gives `key` (murmur2), remembered per key."""
        count = len(producer.client.cluster.partitions_for_topic(self._topic) or ())
        if count != self._partition_count:  # the topic grew (or metadata is missing): hash afresh
            if not count:
                raise NotStored(f"no metadata for topic {self._topic!r} yet; try again")
            self._partitions.clear()
            self._partition_count = count
        partition = self._partitions.get(key)
        if partition is None:
            if len(self._partitions) >= _PARTITION_CACHE_SIZE:
                self._partitions.clear()
            partition = self._partitions[key] = (murmur2(key) & 0x7FFFFFFF) % count
        return partition

    async def _send_queue(self, producer: AIOKafkaProducer, partition: int, queue: deque[_Queued]) -> None:
        """Move `queue` into record batches for as long as it has records; the producer takes one batch
        per partition at a time, and calls arriving meanwhile wait here to form the next one."""
        try:
            while queue:
                batch = producer.create_batch()
                members: list[_Queued] = []
                while queue:
                    record = queue[0].record
                    if batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers) is None:
                        break  # full: the rest goes in the next batch
                    members.append(queue.popleft())
                if not members:  # cannot happen: a batch takes its first record whatever its size
                    _fail(members=[queue.popleft()], reason="the record could not be batched")
                    continue
                batch.close()
                deadline = min(member.deadline for member in members)
                try:
                    # Waits while the previous batch of this partition is being sent.
                    async with asyncio.timeout_at(deadline):
                        delivery = await producer.send_batch(batch, self._topic, partition=partition)
                except TimeoutError:
                    _fail(members, f"the broker did not acknowledge within {self._timeout_s:g} s")
                    continue
                except KafkaError as exc:
                    _fail(members, f"the broker did not store the event ({type(exc).__name__})")
                    continue
                except Exception:
                    log.exception("could not hand a batch of %d records to the producer", len(members))
                    _fail(members, "the event could not be sent to the broker")
                    continue
                self._settle(delivery, members, deadline)
        finally:
            del self._senders[partition]
            # Only when cancelled (the process stopping): nothing left may wait for an answer forever.
            _fail(list(queue), "the gateway is stopping")
            queue.clear()

    def _settle(self, delivery: asyncio.Future[object], members: list[_Queued], deadline: float) -> None:
        """Answer `members` when `delivery` completes, or NotStored at `deadline`."""

        def give_up() -> None:
            _fail(members, f"the broker did not acknowledge within {self._timeout_s:g} s")

        timer = asyncio.get_running_loop().call_at(deadline, give_up)

        def delivered(done: asyncio.Future[object]) -> None:
            timer.cancel()
            if done.cancelled() or done.exception() is not None:
                error = "cancelled" if done.cancelled() else type(done.exception()).__name__
                _fail(members, f"the broker did not store the event ({error})")
                return
            for member in members:
                if not member.delivered.done():
                    member.delivered.set_result(None)

        delivery.add_done_callback(delivered)

    async def is_reachable(self) -> bool:
        """Whether the broker answers a metadata request now. Bounded in time, cached and logged by
        the readiness check that calls it (runtime.ops_server.Readiness)."""
        if self._producer is None:
            return False
        await self._producer.client.fetch_all_metadata()
        return True

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise NotStored("the gateway is not connected to the broker; try again")
        return self._producer


def _fail(members: list[_Queued], reason: str) -> None:
    for member in members:
        if not member.delivered.done():
            member.delivered.set_exception(NotStored(f"{reason}; try again"))
