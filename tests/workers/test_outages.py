"""A Postgres crash that outlasts max_poll_interval, under a worker in this process on the real broker.

While the server is down the worker commits no offset, and it stays in its consumer group: it hands
the failing batch back and keeps polling with its partitions paused, so Kafka neither sees it idle
(max_poll_interval_ms) nor takes its partitions. Once the server is back on the same data, the
worker applies everything by itself, each event once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from runtime.settings import Settings
from schemas.calls import parse_call
from syncpipe.embedded import EmbeddedPostgres
from syncpipe.simulation.generator import WorkloadSizes, generate_history
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.workers.pipeline import publish, read_snapshot, running_worker, wait_for_events

pytestmark = pytest.mark.integration

MAX_POLL_INTERVAL_MS = 1500
OUTAGE_S = 4.0


@pytest.fixture
def crashable_postgres() -> Iterator[EmbeddedPostgres]:
    """A server of this test's own (durable, so what committed survives the crash)."""
    with EmbeddedPostgres(durable=True) as postgres:
        yield postgres


def crash(postgres: EmbeddedPostgres) -> None:
    """SIGKILL every process of the server at once."""
    assert postgres.pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(postgres.pid, signal.SIGKILL)
    postgres.kill()


async def committed_offsets(settings: Settings) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        partitions = [TopicPartition(settings.events_topic, p) for p in range(settings.topic_partitions)]
        offsets = await admin.list_consumer_group_offsets(settings.consumer_group, partitions=partitions)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items()}


async def test_a_long_postgres_outage_commits_nothing_keeps_the_group_and_heals_by_itself(
    settings: Settings, crashable_postgres: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workers.applier.consumer")
    dsn = crashable_postgres.dsn
    worker_settings = settings.model_copy(
        update={
            "database_url": SecretStr(dsn),
            "session_timeout_ms": 6000,
            "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
            "retry_backoff_cap_s": 0.3,
        }
    )
    history = generate_history(seed=7, tenants=4, sizes=WorkloadSizes(5, 5, 10))
    calls = [parse_call(call.interface, call.body) for call in history]
    half = len(calls) // 2

    async with running_worker(worker_settings):
        before = await publish(worker_settings, calls[:half])
        await wait_for_events(dsn, before)
        committed_before = await committed_offsets(worker_settings)
        crash(crashable_postgres)
        crashed_at = time.time()
        during = await publish(worker_settings, calls[half:])
        await asyncio.sleep(OUTAGE_S)
        committed_during = await committed_offsets(worker_settings)
        await asyncio.to_thread(crashable_postgres.restart)
        await wait_for_events(dsn, before + during)
        rebalances = [
            record.getMessage()
            for record in caplog.records
            if record.created > crashed_at
            and record.getMessage().startswith(("partitions revoked", "partitions assigned"))
        ]

    assert committed_during == committed_before, "nothing may be committed while Postgres is down"
    assert rebalances == [], f"the worker left its group during the outage: {rebalances}"
    expected = expected_state(calls)
    for tenant in sorted({call.tenantId for call in calls}):
        assert await read_snapshot(dsn, tenant) == expected.get(tenant, TenantSnapshot()), tenant
