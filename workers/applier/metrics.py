"""The applier's metrics: events by final status, batch transactions, consumer lag, dead letters.

`WorkerMetrics.observe` is a BatchObserver (it sees every committed batch); `transaction` times
each batch transaction; `watching(consumer)` lets the lag be read from the consumer at each scrape.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from runtime.ops_server import Metrics
from schemas.calls import Interface
from workers.applier.batch import BatchResult
from workers.outcomes import EventStatus
from workers.retention.metrics import RetentionMetrics

UNKNOWN_INTERFACE = "unknown"
_INTERFACES = frozenset(interface.value for interface in Interface)
# One transaction holds up to batch_max_records (2000) events: milliseconds to a few seconds.
_TRANSACTION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Powers of about 2.5 up to the default batch_max_records, and one above for larger settings.
_BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000)
# From the gateway's acceptance to the event's final status: sub-second when keeping up, hours
# after an outage.
_DELAY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
# Reading a partition's position asks the broker only for partitions without one (just assigned).
_POSITION_TIMEOUT_S = 1.0


class WorkerMetrics:
    """Registered on `metrics.registry` when created; one per process."""

    def __init__(self, metrics: Metrics) -> None:
        registry: CollectorRegistry = metrics.registry
        self.events = Counter(
            "syncpipe_worker_events",
            "Events that reached a final status (applied, duplicate, stale, test, dead_lettered), by interface.",
            ["status", "interface"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "syncpipe_worker_dead_letters",
            "Events sent to the dead-letter topic (they never apply until re-driven).",
            registry=registry,
        )
        self.transaction_seconds = Histogram(
            "syncpipe_worker_batch_duration_seconds",
            "Time of one batch transaction (apply, events rows, acks), by outcome (committed / failed).",
            ["outcome"],
            buckets=_TRANSACTION_BUCKETS_S,
            registry=registry,
        )
        self.batch_records = Histogram(
            "syncpipe_worker_batch_records",
            "Records in one batch transaction (retries of a failed batch count again).",
            buckets=_BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.event_delay_seconds = Histogram(
            "syncpipe_worker_event_delay_seconds",
            "Time from the gateway accepting an event to the worker finishing it (first delivery only).",
            buckets=_DELAY_BUCKETS_S,
            registry=registry,
        )
        self.lag = Gauge(
            "syncpipe_worker_consumer_lag",
            "Records of each assigned partition not yet fetched by this worker (highwater - position).",
            ["topic", "partition"],
            registry=registry,
        )
        for status in EventStatus:
            if status is not EventStatus.ACCEPTED:  # not a final status
                for interface in (*sorted(_INTERFACES), UNKNOWN_INTERFACE):
                    self.events.labels(status.value, interface)
        for outcome in ("committed", "failed"):
            self.transaction_seconds.labels(outcome)
        self.retention = RetentionMetrics(registry)  # the worker runs retention too
        self._consumer: AIOKafkaConsumer | None = None
        metrics.refresh_on_scrape(self.refresh_lag)

    async def observe(self, result: BatchResult) -> None:
        """The BatchObserver: count what the committed batch finished."""
        now = datetime.now(UTC)
        for event in result.finished:
            interface = event.interface if event.interface in _INTERFACES else UNKNOWN_INTERFACE
            self.events.labels(event.status.value, interface).inc()
            if event.status is EventStatus.DEAD_LETTERED:
                self.dead_letters.inc()
            if event.accepted_at is not None and event.status is not EventStatus.DUPLICATE:
                self.event_delay_seconds.observe(max(0.0, (now - event.accepted_at).total_seconds()))

    @contextmanager
    def transaction(self, records: int) -> Iterator[None]:
        """Time one batch transaction of `records` records."""
        self.batch_records.observe(records)
        started = time.perf_counter()
        outcome = "failed"
        try:
            yield
            outcome = "committed"
        finally:
            self.transaction_seconds.labels(outcome).observe(time.perf_counter() - started)

    @contextmanager
    def watching(self, consumer: AIOKafkaConsumer) -> Iterator[None]:
        """Report the lag of `consumer`'s partitions while inside; none outside (it may be stopped)."""
        self._consumer = consumer
        try:
            yield
        finally:
            self._consumer = None
            self.lag.clear()

    async def refresh_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        lags: dict[tuple[str, str], int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:  # nothing fetched from it yet: unknown, not zero
                continue
            try:
                async with asyncio.timeout(_POSITION_TIMEOUT_S):
                    position = await consumer.position(tp)
            except (TimeoutError, KafkaError):  # revoked meanwhile, or no position yet
                continue
            lags[(tp.topic, str(tp.partition))] = max(0, highwater - position)
        self.lag.clear()
        for (topic, partition), lag in lags.items():
            self.lag.labels(topic, partition).set(lag)
