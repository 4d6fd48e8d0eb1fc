"""`syncpipe worker`: wires one applier process (one member of the consumer group)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer

from runtime.postgres.migrate import migrate
from runtime.postgres.pool import create_pool
from runtime.retry import RetryPolicy
from runtime.settings import Settings
from runtime.topics import ensure_topics
from workers.applier.batch import BatchResult
from workers.applier.consumer import BatchLoop, BatchObserver
from workers.applier.dead_letters import KafkaDeadLetterSink, dead_letter_producer
from workers.applier.metrics import WorkerMetrics
from workers.retention.maintenance import retention_loop
from workers.retention.prune import RetentionPolicy

log = logging.getLogger(__name__)

# A batch holds one connection; the spare one serves dead-lettering while a batch is retried.
_POOL_SIZE = 2
# An idle worker asks the broker for records 20 times a second: nothing for a broker, and the
# longest a call that arrives then waits to be fetched.
_FETCH_MAX_WAIT_MS = 50


async def serve_worker(
    settings: Settings,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    observer: BatchObserver | None = None,
    *,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Consume and apply until `stop` is set (finishing the batch in hand) or the task is cancelled
    (the batch in hand is rolled back and re-read by the next owner). `metrics`, when given, observes
    every batch (before `observer`) and reads the consumer's lag while it runs. Retention runs beside
    the loop, at start and every SYNCPIPE_RETENTION_INTERVAL_S (workers/retention/maintenance.py)."""
    if settings.database_url is None or settings.kafka_bootstrap_servers is None:
        raise ValueError("the worker needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS")
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=_POOL_SIZE)
    retention_stop = asyncio.Event()
    retention: asyncio.Task[None] | None = None
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
        retention = asyncio.create_task(
            retention_loop(
                settings.database_url.get_secret_value(),
                RetentionPolicy.from_settings(settings),
                settings.retention_interval_s,
                retention_stop,
                metrics.retention if metrics else None,
            )
        )
        await ensure_topics(settings)
        producer = dead_letter_producer(settings)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(settings.session_timeout_ms // 3, 100),
            max_poll_interval_ms=settings.max_poll_interval_ms,
            # One record may be a whole envelope part (max_record_bytes); fetch several at once.
            max_partition_fetch_bytes=max(settings.max_record_bytes * 2, 1024 * 1024),
            fetch_max_bytes=64 * 1024 * 1024,  # the most that records fetched ahead hold in memory
            # How long the broker may hold a fetch that found nothing new. One that does not answer as
            # soon as records arrive (the embedded Tansu holds it ~250 ms) adds that much to the
            # latency of calls arriving while the worker is caught up.
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
        )
        await producer.start()
        try:
            sink = KafkaDeadLetterSink(producer, settings.dead_letter_topic, settings.produce_timeout_s)
            loop = BatchLoop(
                consumer,
                pool,
                sink,
                batch_max_records=settings.batch_max_records,
                max_attempts=settings.max_attempts,
                retry=RetryPolicy(settings.retry_backoff_first_s, settings.retry_backoff_cap_s),
                observer=_observers(metrics.observe if metrics else None, observer),
                metrics=metrics,
                ready_url_template=settings.instance_ready_url_template,
            )
            consumer.subscribe([settings.events_topic], listener=loop)
            await consumer.start()
            try:
                if ready is not None:
                    ready.set()
                log.info("worker consuming %s as group %s", settings.events_topic, settings.consumer_group)
                with metrics.watching(consumer) if metrics else contextlib.nullcontext():
                    await _run_until(loop, stop)
            finally:
                await consumer.stop()
        finally:
            await producer.stop()
    finally:
        if retention is not None:
            # A run in progress is cancelled: each of its steps is a transaction, or a detach that the
            # next run finishes.
            retention_stop.set()
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
        await pool.close()


def _observers(*observers: BatchObserver | None) -> BatchObserver | None:
    """One observer calling each of `observers` that is set, in order."""
    chosen = [each for each in observers if each is not None]
    if not chosen:
        return None

    async def observe(result: BatchResult) -> None:
        for each in chosen:
            await each(result)

    return observe


async def _run_until(loop: BatchLoop, stop: asyncio.Event | None) -> None:
    if stop is None:
        await loop.run()
        return

    async def relay_stop() -> None:
        await stop.wait()
        loop.stopping.set()

    relay = asyncio.create_task(relay_stop())
    try:
        await loop.run()
    finally:
        relay.cancel()
