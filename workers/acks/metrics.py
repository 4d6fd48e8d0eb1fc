"""The acker's metrics: acks sent and failed attempts (counted by this acker), acks owed (the outbox).

The counters come from `MeasuredDelivery`, wrapped around the platform client; the gauges are read
from the `ack_outbox` table at each scrape, so every acker reports the same shared backlog
(aggregate them with max, not sum).
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from runtime.ops_server import Metrics
from workers.acks.errors import AckNotDelivered
from workers.acks.outbox import outbox_backlog
from workers.acks.sender import AckDelivery

# A platform answering in milliseconds up to the ack timeout (10 s by default).
_DELIVERY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# One statement over the owed rows only (the partial index of owed acks).


class AckerMetrics:
    """Registered on `metrics.registry` when created; one per process."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.sent = Counter("syncpipe_ack_sent", "Acks the platform took (2xx), sent by this acker.", registry=registry)
        self.failed_attempts = Counter(
            "syncpipe_ack_attempts_failed",
            "Ack POSTs that failed (no 2xx in time) and will be retried, by this acker.",
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "syncpipe_ack_delivery_duration_seconds",
            "Time of one ack POST, by outcome (sent / failed).",
            ["outcome"],
            buckets=_DELIVERY_BUCKETS_S,
            registry=registry,
        )
        self.pending = Gauge(
            "syncpipe_ack_pending", "Acks owed to the platform (the whole outbox, not one acker's).", registry=registry
        )
        self.retrying = Gauge(
            "syncpipe_ack_retrying", "Acks owed whose last attempt failed (the whole outbox).", registry=registry
        )
        self.oldest_pending_seconds = Gauge(
            "syncpipe_ack_oldest_pending_age_seconds",
            "Age of the oldest ack still owed (0 when none is): how far behind the platform is.",
            registry=registry,
        )
        for outcome in ("sent", "failed"):
            self.delivery_seconds.labels(outcome)
        self._pool: asyncpg.Pool | None = None
        metrics.refresh_on_scrape(self.refresh_outbox)

    def measured(self, client: AckDelivery) -> AckDelivery:
        return MeasuredDelivery(client, self)

    def watch_outbox(self, pool: asyncpg.Pool | None) -> None:
        """Read the outbox gauges through `pool` at each scrape from now on; None: stop (it is closing)."""
        self._pool = pool

    async def refresh_outbox(self) -> None:
        pool = self._pool
        if pool is None:
            return
        async with pool.acquire() as connection:
            backlog = await outbox_backlog(connection)
        self.pending.set(backlog.owed)
        self.retrying.set(backlog.retrying)
        oldest_s = (backlog.now - backlog.oldest).total_seconds() if backlog.oldest else 0.0
        self.oldest_pending_seconds.set(oldest_s)


class MeasuredDelivery:
    """An AckDelivery that counts and times the deliveries of the one it wraps."""

    def __init__(self, client: AckDelivery, metrics: AckerMetrics) -> None:
        self._client = client
        self._metrics = metrics

    async def deliver(self, body: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            await self._client.deliver(body)
        except AckNotDelivered:
            self._metrics.failed_attempts.inc()
            self._metrics.delivery_seconds.labels("failed").observe(time.perf_counter() - started)
            raise
        self._metrics.sent.inc()
        self._metrics.delivery_seconds.labels("sent").observe(time.perf_counter() - started)
