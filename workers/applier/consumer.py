"""The worker loop: fetch a batch, apply it in one transaction, then commit its offsets.

At-least-once delivery + the dedupe rows of `apply_batch` = each event's effect exactly once.
Offsets move only after the transaction committed; a batch that failed is never acknowledged:
 - a retriable failure (Postgres or broker unreachable) retries the same batch with backoff,
   forever, until it works, the worker stops, or its partitions are taken away (then nothing is
   committed and the next owner gets the records again);
 - any other failure splits the batch into single records; a record that still fails
   `max_attempts` times is dead-lettered with its reason and the worker goes on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from workers.acks.outbox import enqueue_acks
from workers.applier.batch import BatchResult, apply_batch, undecodable_event
from workers.applier.dead_letter_archive import store_dead_letters
from workers.applier.errors import is_retriable
from workers.applier.event_log import record_events
from workers.applier.records import ConsumedRecord, DeadLetter, DeadLetterSink, EventStatus, FinishedEvent

log = logging.getLogger(__name__)

# Backoff between retries of a failing batch: quick first retries, then at most every 5 s so a
# recovered database is noticed fast without hammering one that is down.
_BACKOFF_FIRST_S = 0.1
_BACKOFF_CAP_S = 5.0
# How long one fetch waits for records before checking for shutdown.
_FETCH_TIMEOUT_MS = 500

T = TypeVar("T")
BatchObserver = Callable[[BatchResult], Awaitable[None]]


class BatchAbandoned(Exception):
    """The batch's partitions were revoked or the worker is stopping while it kept failing."""


def backoff_s(attempt: int) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_FIRST_S * 2**attempt))


class BatchLoop(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool: asyncpg.Pool,
        dead_letters: DeadLetterSink,
        *,
        batch_max_records: int,
        max_attempts: int,
        observer: BatchObserver | None = None,
    ) -> None:
        self._consumer = consumer
        self._pool = pool
        self._dead_letters = dead_letters
        self._batch_max_records = batch_max_records
        self._max_attempts = max_attempts
        self._observer = observer
        self._lock = asyncio.Lock()
        self._revoking = False
        self.stopping = asyncio.Event()

    # -- rebalance: hand partitions back only between batches ------------------------------
    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._revoking = True
        async with self._lock:
            self._revoking = False
        log.info("partitions revoked: %s", sorted(f"{tp.topic}:{tp.partition}" for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted(f"{tp.topic}:{tp.partition}" for tp in assigned))

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        while not self.stopping.is_set():
            fetched = await self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS, max_records=self._batch_max_records)
            if not fetched:
                continue
            async with self._lock:
                records = [
                    ConsumedRecord(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers or ()))
                    for messages in fetched.values()
                    for m in messages
                ]
                try:
                    await self._apply(records)
                except BatchAbandoned as exc:
                    log.warning("batch of %d records abandoned, not committed: %s", len(records), exc)
                    continue
                await self._commit({tp: messages[-1].offset + 1 for tp, messages in fetched.items()})

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on (a rebalance): the new owner re-reads these records and the
            # dedupe rows make that harmless.
            log.warning("offset commit failed, records will be re-read by their next owner: %r", exc)

    async def _apply(self, records: Sequence[ConsumedRecord]) -> None:
        try:
            result = await self._retrying(lambda: self._apply_once(records))
        except BatchAbandoned:
            raise
        except Exception as exc:
            if len(records) == 1:
                await self._apply_single(records[0], first_error=exc)
                return
            log.warning("batch of %d records failed (%r); applying them one by one", len(records), exc)
            for record in records:
                await self._apply_single(record)
            return
        await self._observe(result)

    async def _apply_once(self, records: Sequence[ConsumedRecord]) -> BatchResult:
        async with self._pool.acquire() as connection:
            return await apply_batch(connection, records, self._dead_letters)

    async def _apply_single(self, record: ConsumedRecord, first_error: Exception | None = None) -> None:
        failures = 1 if first_error else 0
        error = first_error
        while failures < self._max_attempts:
            try:
                result = await self._retrying(lambda: self._apply_once([record]))
            except BatchAbandoned:
                raise
            except Exception as exc:
                failures += 1
                error = exc
                log.warning(
                    "record %s:%d:%d failed (attempt %d of %d): %r",
                    record.topic,
                    record.partition,
                    record.offset,
                    failures,
                    self._max_attempts,
                    exc,
                )
                await asyncio.sleep(backoff_s(failures))
                continue
            await self._observe(result)
            return
        await self._retrying(lambda: self._dead_letter_failed(record, f"failed {failures} times: {error!r}"))

    async def _dead_letter_failed(self, record: ConsumedRecord, reason: str) -> None:
        event = undecodable_event(record, reason)
        log.error("dead-lettering event %s of tenant %s: %s", event.event_id, event.tenant_id, reason)
        async with self._pool.acquire() as connection, connection.transaction():
            await record_events(connection, [event])
            await enqueue_acks(connection, [event])
            await store_dead_letters(connection, [DeadLetter(event.event_id, event.tenant_id, reason, record)])
            await self._dead_letters.send([DeadLetter(event.event_id, event.tenant_id, reason, record)])
        await self._observe(BatchResult(finished=[event]))

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        failures = 0
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if not is_retriable(exc):
                    raise
                if self._revoking or self.stopping.is_set():
                    raise BatchAbandoned(f"gave up after {failures + 1} retriable failures: {exc!r}") from exc
                delay = backoff_s(failures)
                failures += 1
                log.warning("retriable failure #%d (%r); retrying in %.2f s", failures, exc, delay)
                await asyncio.sleep(delay)

    async def _observe(self, result: BatchResult) -> None:
        for event in result.finished:
            if event.status is EventStatus.DEAD_LETTERED:
                log.error("event %s of tenant %s dead-lettered: %s", event.event_id, event.tenant_id, event.reason)
        if self._observer is not None:
            await self._observer(result)


__all__ = ["BatchLoop", "FinishedEvent", "backoff_s"]
