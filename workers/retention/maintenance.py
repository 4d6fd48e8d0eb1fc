"""The retention run: partitions created ahead, then a prune; by `syncpipe retention` and every worker.

One run at a time per database (a session advisory lock: a worker that finds another run in
progress skips its turn). Every worker runs it at start and then every SYNCPIPE_RETENTION_INTERVAL_S,
on a connection of its own (DETACH … CONCURRENTLY must not run inside a transaction, and the batch
pool's connections are the apply path's). A run that fails is logged and counted
(`syncpipe_retention_runs_total{outcome="failed"}`) and retried at the next interval: a worker never
stops applying because pruning failed, which only delays reclaiming space. Partitions exist a week
(events) and a day (acks) ahead, so failing runs leave that long to act; past it, batches wait
(a missing partition is an outage to the applier, runtime/outages.py) until a run succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from runtime.postgres.partitions import ensure_all_partitions
from workers.retention.horizons import oldest_retained_event
from workers.retention.metrics import RetentionMetrics
from workers.retention.prune import PruneReport, RetentionPolicy, prune

log = logging.getLogger(__name__)

_LOCK_KEY = 0x72657465  # "rete": one retention run per database at a time
# A worker connects for each run; a database that does not answer this fast is down, retried later.
_CONNECT_TIMEOUT_S = 10.0


@dataclass
class RetentionRun:
    prune: PruneReport
    partitions_created: list[str] = field(default_factory=list)
    oldest_event: datetime | None = None
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.prune.to_json(),
            "partitionsCreated": self.partitions_created,
            "oldestEvent": self.oldest_event.isoformat() if self.oldest_event else None,
            "elapsedS": round(self.elapsed_s, 3),
        }


async def run_retention(
    connection: asyncpg.Connection, policy: RetentionPolicy, now: datetime | None = None, *, dry_run: bool = False
) -> RetentionRun | None:
    """Create partitions ahead and prune at `now` (default: the database's clock); None if another
    process is running one. A dry run creates and drops nothing and says what a run would drop."""
    started = time.perf_counter()
    if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
        return None
    try:
        moment: datetime = now or await connection.fetchval("SELECT now()")
        created = [] if dry_run else await ensure_all_partitions(connection, moment)
        report = await prune(connection, policy, moment, dry_run=dry_run)
        oldest = await oldest_retained_event(connection)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return RetentionRun(report, created, oldest, time.perf_counter() - started)


async def retention_loop(
    database_url: str,
    policy: RetentionPolicy,
    interval_s: float,
    stop: asyncio.Event,
    metrics: RetentionMetrics | None = None,
) -> None:
    """Run retention now and every `interval_s` until `stop` is set (or the task is cancelled)."""
    while not stop.is_set():
        await _run_once(database_url, policy, metrics)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            continue


async def _run_once(database_url: str, policy: RetentionPolicy, metrics: RetentionMetrics | None) -> None:
    try:
        connection = await asyncpg.connect(database_url, timeout=_CONNECT_TIMEOUT_S)
        try:
            run = await run_retention(connection, policy)
        finally:
            await connection.close()
    except Exception:
        log.exception("retention run failed; retried in SYNCPIPE_RETENTION_INTERVAL_S")
        if metrics is not None:
            metrics.runs.labels("failed").inc()
        return
    if run is None:
        log.info("retention run skipped: another process is running one")
        if metrics is not None:
            metrics.runs.labels("skipped").inc()
        return
    report = run.prune
    if report.events_partitions_dropped or report.ack_partitions_dropped or run.partitions_created:
        log.info(
            "retention: created %s; dropped events %s (%d events of %d tenants and %d instances folded), acks %s;"
            " %d dead letters and %d upload parts deleted",
            run.partitions_created,
            report.events_partitions_dropped,
            report.events_folded,
            report.tenants_checkpointed,
            report.instances_checkpointed,
            report.ack_partitions_dropped,
            report.dead_letters_deleted,
            report.upload_parts_deleted,
        )
    if report.ack_partitions_held:
        log.warning("retention: %d hours of acks past their horizon still owe acks", len(report.ack_partitions_held))
    if report.unreadable:
        log.error("retention: %d archived calls no longer validate and were not folded", len(report.unreadable))
    if metrics is not None:
        metrics.observe(report, run.oldest_event, run.elapsed_s)
