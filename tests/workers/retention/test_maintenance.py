"""The workers' retention loop: a run at start and every interval, one process at a time, measured."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from tests.workers.retention.days import POLICY
from workers.retention.maintenance import retention_loop, run_retention
from workers.retention.metrics import RetentionMetrics

pytestmark = pytest.mark.integration


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def until_runs(registry: CollectorRegistry, outcome: str, runs: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (sample(registry, "syncpipe_retention_runs_total", outcome=outcome) or 0) < runs:
        assert time.monotonic() < deadline, f"fewer than {runs} runs {outcome} in {timeout_s} s"
        await asyncio.sleep(0.05)


async def test_the_loop_runs_at_start_creates_partitions_ahead_and_reports_its_horizons(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    registry = CollectorRegistry()
    metrics = RetentionMetrics(registry)
    stop = asyncio.Event()
    loop = asyncio.create_task(retention_loop(migrated_url, POLICY, 0.2, stop, metrics))
    try:
        await until_runs(registry, "done", 2)
    finally:
        stop.set()
        await loop

    now = await connection.fetchval("SELECT now()")
    ahead = await connection.fetchval(
        "SELECT max(substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']*)''\\)')::timestamptz)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"
    )
    assert ahead >= now + timedelta(days=6)  # a week of events partitions ahead, not only tomorrow's
    horizon = sample(registry, "syncpipe_retention_horizon_timestamp_seconds", history="events")
    assert horizon is not None
    assert abs(horizon - (now - POLICY.events).timestamp()) < 60
    assert sample(registry, "syncpipe_retention_last_success_timestamp_seconds") is not None
    assert sample(registry, "syncpipe_retention_oldest_event_timestamp_seconds") == 0  # no event kept yet
    assert sample(registry, "syncpipe_retention_runs_total", outcome="failed") == 0


async def test_a_second_process_skips_its_turn_while_one_runs(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    await connection.execute("SELECT pg_advisory_lock(x'72657465'::int)")  # as a run in another process holds it
    other = await asyncpg.connect(migrated_url)
    try:
        assert await run_retention(other, POLICY) is None
        await connection.execute("SELECT pg_advisory_unlock(x'72657465'::int)")
        assert await run_retention(other, POLICY) is not None
    finally:
        await other.close()


async def test_a_run_that_fails_is_counted_and_the_loop_goes_on() -> None:
    registry = CollectorRegistry()
    metrics = RetentionMetrics(registry)
    stop = asyncio.Event()
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    loop = asyncio.create_task(retention_loop(unreachable, POLICY, 0.05, stop, metrics))
    try:
        await until_runs(registry, "failed", 2)
    finally:
        stop.set()
        await loop  # it never raised: a failed run waits for the next interval
