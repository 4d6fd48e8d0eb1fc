"""The worker loop: fetch a batch, apply its lanes concurrently, then commit the offsets of each lane
that was applied.

A batch of up to `batch_max_records` per lane is split into lanes of whole partitions
(`lanes.split_into_lanes`), each applied in transactions of up to `batch_max_records` on a
connection of its own: the lanes touch disjoint tenants, and each keeps its
partitions' order. While one lane's Python work runs, the other's statements run in Postgres. The
next batch is fetched only when every lane of this one is done, so a partition is never in two
lanes at once. Everything below holds per lane: one lane applied and one deferred commit the
first's offsets only, and rewind the second's partitions.

At-least-once delivery + the dedupe rows of `apply_batch` = each event's effect exactly once.
Offsets move only after the transaction committed; a batch that failed is never acknowledged:
 - a retriable failure (Postgres or broker unreachable) hands the batch back: its partitions are
   rewound to its first records and fetching pauses for a capped, growing backoff, then the batch
   is fetched and tried again, forever, until it works. The loop keeps polling meanwhile, so an
   outage of any length neither makes the consumer leave its group (max_poll_interval_ms) nor
   delays a rebalance or a stop: no batch is in hand while it waits;
 - any other failure splits the batch in two halves, applied in order, each split again if it
   fails: one bad record costs about 2*log2(batch size) failed transactions, not one transaction
   per record, and the good records still go in batches. A single record that fails
   `max_attempts` times in a row is dead-lettered with its reason and the worker goes on. Its
   tenant's later events then apply without it, which the versions of SPEC §5 make safe.
Partitions are handed back only between batches: the rebalance listener waits for the batch in
hand (aiokafka calls it before rejoining, keeps heartbeating meanwhile, and `getmany` returns no
records while a reassignment is in progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from runtime import tracing
from runtime.logs import event_fields
from runtime.outages import is_retriable
from runtime.retry import RetryPolicy
from workers.acks.outbox import enqueue_acks
from workers.applier.batch import BatchResult, apply_batch, undecodable_event
from workers.applier.dead_letter_archive import store_dead_letters
from workers.applier.event_log import find_known_events, record_events
from workers.applier.lanes import split_into_lanes
from workers.applier.metrics import WorkerMetrics
from workers.applier.records import ConsumedRecord, DeadLetter, DeadLetterSink
from workers.applier.subject_locks import lock_subject_of
from workers.applier.uploads import take_whole_upload
from workers.outcomes import EventStatus, FinishedEvent

log = logging.getLogger(__name__)

# Backoff between retries of a batch that failed for a retriable reason: quick first retries, then
# at most every 5 s so a recovered database is noticed fast without hammering one that is down.
DEFAULT_RETRY = RetryPolicy(first_s=0.1, cap_s=5.0)
# How long one fetch waits for records before checking for shutdown.
_FETCH_TIMEOUT_MS = 500
# An offset commit takes milliseconds; one this slow means the broker is unreachable, and aiokafka
# would retry it until the broker is back. Giving up costs only re-reads (as after a crash) and keeps
# a stop or a rebalance, which wait for the batch loop, from waiting for the broker.
_COMMIT_TIMEOUT_S = 10.0

T = TypeVar("T")
BatchObserver = Callable[[BatchResult], Awaitable[None]]


class BatchAbandoned(Exception):
    """The batch's partitions are being revoked or the worker is stopping: nothing more of it is
    applied, nothing of it is committed, and whoever owns its partitions next reads it again."""


class BatchDeferred(Exception):
    """A retriable failure (Postgres or the broker unreachable): the batch is tried again later."""


class BatchLoop(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool: asyncpg.Pool,
        dead_letters: DeadLetterSink,
        *,
        batch_max_records: int,
        max_attempts: int,
        lanes: int = 1,
        observer: BatchObserver | None = None,
        metrics: WorkerMetrics | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        ready_url_template: str | None = None,
    ) -> None:
        self._consumer = consumer
        self._ready_url_template = ready_url_template
        self._metrics = metrics
        self._pool = pool
        self._dead_letters = dead_letters
        self._batch_max_records = batch_max_records
        self._max_attempts = max_attempts
        self._lanes = lanes
        self._observer = observer
        self._retry = retry
        self._lock = asyncio.Lock()
        self._revoking = False
        # Batches that failed for a retriable reason in a row, and when fetching resumes after the last.
        self._retriable_failures = 0
        self._resume_at: float | None = None
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
            fetched = await self._consumer.getmany(
                timeout_ms=self._fetch_timeout_ms(), max_records=self._batch_max_records * self._lanes
            )
            if not fetched:
                continue
            async with self._lock:
                await self._apply_lanes(fetched)

    async def _apply_lanes(self, fetched: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> None:
        """Apply the fetch's lanes concurrently, each on its own connection; then commit the offsets
        of the lanes that were applied, rewind those deferred, and raise what no lane should."""
        lanes = split_into_lanes(fetched, self._lanes)
        outcomes = await asyncio.gather(*(self._apply_lane(lane) for lane in lanes), return_exceptions=True)
        applied: dict[TopicPartition, int] = {}
        deferred: dict[TopicPartition, int] = {}
        deferral: BatchDeferred | None = None
        unexpected: BaseException | None = None
        for lane, outcome in zip(lanes, outcomes, strict=True):
            if outcome is None:
                applied.update({tp: messages[-1].offset + 1 for tp, messages in lane.items()})
            elif isinstance(outcome, BatchAbandoned):
                count = sum(len(messages) for messages in lane.values())
                log.warning("batch of %d records abandoned, not committed: %s", count, outcome)
            elif isinstance(outcome, BatchDeferred):
                deferred.update({tp: messages[0].offset for tp, messages in lane.items()})
                deferral = outcome
            else:
                unexpected = unexpected or outcome
        if deferral is None and unexpected is None:
            self._retriable_failures = 0
        if applied:
            await self._commit(applied)
        if deferral is not None:
            self._defer(deferred, deferral)
        if unexpected is not None:
            raise unexpected

    async def _apply_lane(self, lane: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]) -> None:
        """Apply the lane's records in order, `batch_max_records` per transaction (a lane holds more
        when one partition brought more than its share). A part that fails leaves the lane
        uncommitted: the parts before it come again as redeliveries, which change nothing."""
        records = [
            ConsumedRecord(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers or ()))
            for messages in lane.values()
            for m in messages
        ]
        for start in range(0, len(records), self._batch_max_records):
            if start:
                self._check_still_ours()
            await self._apply(records[start : start + self._batch_max_records])

    def _fetch_timeout_ms(self) -> int:
        """How long the next fetch may wait; resumes the partitions once a deferral's backoff is over."""
        if self._resume_at is None:
            return _FETCH_TIMEOUT_MS
        left_s = self._resume_at - asyncio.get_running_loop().time()
        if left_s > 0:
            return min(_FETCH_TIMEOUT_MS, int(left_s * 1000) + 1)
        self._resume_at = None
        self._consumer.resume(*self._consumer.paused())
        return _FETCH_TIMEOUT_MS

    def _defer(self, first_offsets: dict[TopicPartition, int], failure: BatchDeferred) -> None:
        """Rewind the batch's partitions to its first records and pause fetching for the backoff.

        Nothing of the batch was committed. The consumer keeps polling while paused (so it stays in
        its group however long the outage) and holds no batch (so a rebalance or a stop goes ahead).
        Parts of a split batch already applied come back as redeliveries, which change nothing.
        """
        self._retriable_failures += 1
        delay = self._retry.delay_s(self._retriable_failures)
        assigned = self._consumer.assignment()
        for tp, offset in first_offsets.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)
        self._consumer.pause(*assigned)
        self._resume_at = asyncio.get_running_loop().time() + delay
        log.warning(
            "retriable failure #%d (%r); batch handed back, fetching again in %.2f s",
            self._retriable_failures,
            failure.__cause__,
            delay,
        )

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            async with asyncio.timeout(_COMMIT_TIMEOUT_S):
                await self._consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
        except (CommitFailedError, KafkaError, TimeoutError) as exc:
            # The group moved on (a rebalance) or the broker is gone: the next owner re-reads these
            # records, and the dedupe rows make that harmless.
            log.warning("offset commit failed, records will be re-read by their next owner: %r", exc)

    async def _apply(self, records: Sequence[ConsumedRecord]) -> None:
        """Apply `records` in one transaction; if that fails for a reason retrying will not fix,
        apply each half in turn the same way, down to single records (see the module docstring)."""
        try:
            result = await self._deferring(lambda: self._apply_once(records))
        except (BatchAbandoned, BatchDeferred):
            raise
        except Exception as exc:
            if len(records) == 1:
                await self._apply_single(records[0], first_error=exc)
                return
            log.warning("batch of %d records failed (%r); applying each half on its own", len(records), exc)
            middle = len(records) // 2
            for part in (records[:middle], records[middle:]):
                self._check_still_ours()
                await self._apply(part)
            return
        await self._observe(result)

    def _check_still_ours(self) -> None:
        """Between the parts of a split batch: a rebalance or a stop waits for no more of them."""
        if self._revoking or self.stopping.is_set():
            raise BatchAbandoned("partitions revoked" if self._revoking else "stopping")

    async def _apply_once(self, records: Sequence[ConsumedRecord]) -> BatchResult:
        timed = self._metrics.transaction(len(records)) if self._metrics else contextlib.nullcontext()
        if not tracing.enabled():
            async with self._pool.acquire() as connection:
                with timed:
                    return await apply_batch(
                        connection, records, self._dead_letters, ready_url_template=self._ready_url_template
                    )
        traceparents = [tracing.traceparent_of(record.headers) for record in records]
        with tracing.batch_span("worker apply batch", traceparents, {"syncpipe.batch.records": len(records)}):
            async with self._pool.acquire() as connection:
                with timed:
                    result = await apply_batch(
                        connection, records, self._dead_letters, ready_url_template=self._ready_url_template
                    )
            for event in result.finished:  # one span per event in its call's trace, linked to this batch
                with tracing.child_span(f"worker {event.status.value}", event.trace_parent, _span_fields(event)):
                    pass
        return result

    async def _apply_single(self, record: ConsumedRecord, first_error: Exception) -> None:
        """Try a record that failed alone until `max_attempts` failures, then dead-letter it.

        The attempts come back to back: a failure worth waiting for (Postgres or the broker down)
        is retriable and defers the batch instead of counting here, so what counts is a failure of
        the record itself, and only a fluke of the transaction could make a second attempt differ.
        Every other tenant behind this record waits, so that wait is kept to a few transactions.
        """
        failures, error = 1, first_error
        while True:
            log.warning(
                "record %s:%d:%d failed (attempt %d of %d): %r",
                record.topic,
                record.partition,
                record.offset,
                failures,
                self._max_attempts,
                error,
            )
            if failures >= self._max_attempts:
                break
            self._check_still_ours()
            try:
                result = await self._deferring(lambda: self._apply_once([record]))
            except (BatchAbandoned, BatchDeferred):
                raise
            except Exception as exc:
                failures, error = failures + 1, exc
                continue
            await self._observe(result)
            return
        reason = f"failed {failures} times: {error!r}"
        await self._deferring(lambda: self._dead_letter_failed(record, reason))

    async def _dead_letter_failed(self, record: ConsumedRecord, reason: str) -> None:
        """Record the event as dead-lettered and keep its record, in one transaction.

        The part that completes an upload is kept as the whole envelope (`take_whole_upload`), as
        `apply_batch` keeps one that fails validation: a retry then needs nothing but the letter.
        """
        event = undecodable_event(record, reason)
        log.error(
            "dead-lettering event %s of tenant %s: %s",
            event.event_id,
            event.tenant_id,
            reason,
            extra=event_fields(event.event_id, event.tenant_id, event.interface, event.instance_id),
        )
        async with self._pool.acquire() as connection, connection.transaction():
            now: datetime = await connection.fetchval("SELECT now()")
            letter = DeadLetter(
                event.event_id, event.tenant_id, reason, record, await take_whole_upload(connection, record)
            )
            # One events row per event id: an event recorded before keeps its row (under the lock
            # every writer of its subject's events holds: its tenant's, or an instance call's instance's).
            await lock_subject_of(connection, record)
            if not await find_known_events(connection, [(event.event_id, None)], now):
                await record_events(connection, [event], now)
            await enqueue_acks(connection, [event], now)
            await store_dead_letters(connection, [letter])
            await self._dead_letters.send([letter])
        await self._observe(BatchResult(finished=[event]))

    @staticmethod
    async def _deferring(attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt`; a retriable failure defers the whole batch (BatchDeferred)."""
        try:
            return await attempt()
        except Exception as exc:
            if is_retriable(exc):
                raise BatchDeferred(repr(exc)) from exc
            raise

    async def _observe(self, result: BatchResult) -> None:
        for event in result.finished:
            fields = event_fields(event.event_id, event.tenant_id, event.interface, event.instance_id)
            if event.status is EventStatus.DEAD_LETTERED:
                log.error(
                    "event %s of tenant %s dead-lettered: %s",
                    event.event_id,
                    event.tenant_id,
                    event.reason,
                    extra=fields,
                )
            else:
                log.debug("event %s %s", event.event_id, event.status.value, extra=fields)
        if self._observer is not None:
            await self._observer(result)


__all__ = ["DEFAULT_RETRY", "BatchLoop", "FinishedEvent"]


def _span_fields(event: FinishedEvent) -> dict[str, str | int]:
    return {"syncpipe.event_id": event.event_id, "syncpipe.tenant_id": event.tenant_id, "syncpipe.offset": event.offset}
