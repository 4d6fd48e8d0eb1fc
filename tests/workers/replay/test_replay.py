"""Replaying a window of the real events topic into a real Postgres, beside no live worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from runtime.postgres.partitions import ensure_all_partitions
from runtime.settings import Settings
from schemas.envelope import HEADER_EVENT_ID, HEADER_PART
from syncpipe.recovery.output import render_replay
from syncpipe.simulation.model import expected_state
from tests.workers.pipeline import publish, read_snapshot, running_worker, wait_for_events
from tests.workers.replay.recovery_fixtures import (
    SMALL_RECORDS,
    DiscardedLetters,
    as_records,
    dump_tables,
    simulated_calls,
)
from workers.replay.log_window import WindowSpec
from workers.replay.progress import NoProgress
from workers.replay.replay import Replayer, ReplayReport
from workers.replay.selection import RecordFilter
from workers.retention.maintenance import run_retention
from workers.retention.prune import RetentionPolicy

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_settings(settings: Settings, migrated_url: str) -> Settings:
    return settings.model_copy(
        update={
            "database_url": SecretStr(migrated_url),
            "session_timeout_ms": 6000,
            "max_record_bytes": SMALL_RECORDS,  # full syncs travel in parts
            "batch_max_records": 25,  # several replay batches, uploads straddling fetches
        }
    )


@pytest.fixture
def replayer(worker_settings: Settings, connection: asyncpg.Connection) -> Replayer:
    return Replayer(connection, worker_settings, DiscardedLetters(), NoProgress())


async def replay(replayer: Replayer, spec: WindowSpec, dry_run: bool = False, *tenants: str) -> ReplayReport:
    return await replayer.run(spec, RecordFilter(frozenset(tenants)), dry_run=dry_run)


# What `events` records of an event, besides when (finished_at is the replay's time, naturally).
RECORDED = (
    "SELECT event_id, status, reason, duplicates, kafka_partition, kafka_offset, accepted_at, call::text"
    " FROM events WHERE tenant_id = $1 ORDER BY event_id"
)


async def event_status(database_url: str, event_id: str) -> str | None:
    connection = await asyncpg.connect(database_url)
    try:
        status: str | None = await connection.fetchval("SELECT status FROM events WHERE event_id = $1", event_id)
        return status
    finally:
        await connection.close()


async def forget_tenant(connection: asyncpg.Connection, tenant_id: str) -> int:
    """A database restored from before the tenant existed: its events and state are gone."""
    for table in ("tenants", "departments", "users", "authorizations", "applications"):
        await connection.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
    deleted = await connection.execute("DELETE FROM events WHERE tenant_id = $1", tenant_id)
    return int(deleted.split()[-1])


async def test_a_replay_restores_lost_events_and_replaying_again_changes_nothing(
    worker_settings: Settings, connection: asyncpg.Connection, migrated_url: str, replayer: Replayer
) -> None:
    (lost, other, *_), calls = simulated_calls(seed=21, tenants=3)
    expected = expected_state(calls)
    since = datetime.now(UTC) - timedelta(seconds=1)
    resent = [call for call in calls if call.tenantId == lost][:4]
    async with running_worker(worker_settings):
        await wait_for_events(migrated_url, await publish(worker_settings, calls + resent))
    assert await read_snapshot(migrated_url, lost) == expected[lost]
    intact = await dump_tables(connection)
    recorded = await connection.fetch(RECORDED, lost)

    lost_events = await forget_tenant(connection, lost)
    one_row = await connection.fetchval(
        "DELETE FROM events WHERE event_id = (SELECT event_id FROM events WHERE tenant_id = $1"
        " AND status = 'applied' AND duplicates = 0 ORDER BY event_id LIMIT 1) RETURNING event_id",
        other,
    )
    damaged = await dump_tables(connection)

    dry = await replay(replayer, WindowSpec(since=since), True)
    assert await dump_tables(connection) == damaged
    assert sum(dry.refed.values()) == lost_events + len(resent) + 1
    assert dry.refed_copies == len(resent)
    assert one_row in dry.sample or len(dry.sample) == 20
    assert dry.records_matched > dry.events_matched  # parts were read and grouped

    only_lost = await replay(replayer, WindowSpec(since=since), False, lost)
    assert sum(only_lost.refed.values()) == lost_events + len(resent)
    assert only_lost.outcomes["applied"] > 0
    assert only_lost.outcomes["duplicate"] == len(resent)
    assert await connection.fetch(RECORDED, lost) == recorded  # statuses, duplicate counts, sources
    assert (only_lost.dead_lettered, only_lost.failed) == (0, [])
    assert await read_snapshot(migrated_url, lost) == expected[lost]
    assert await connection.fetchval("SELECT count(*) FROM events WHERE event_id = $1", one_row) == 0

    everything = await replay(replayer, WindowSpec(since=since))
    assert sum(everything.refed.values()) == 1
    restored = await dump_tables(connection)
    for table in ("tenants", "departments", "users", "authorizations", "applications"):
        assert restored[table] == intact[table], table

    again = await replay(replayer, WindowSpec(since=since))
    assert sum(again.refed.values()) == 0
    assert sum(again.already_had.values()) == again.events_matched == everything.events_matched
    assert await dump_tables(connection) == restored


async def test_offset_windows_split_a_topic_and_an_upload_cut_in_two_is_fed_whole_later(
    worker_settings: Settings, migrated_url: str, replayer: Replayer
) -> None:
    (tenant,), calls = simulated_calls(seed=22, tenants=1)
    started = datetime.now(UTC) - timedelta(seconds=1)
    await publish(worker_settings, calls)  # no worker: the replays are the only applier here
    # The records as the gateway wrote them: cut the window in the middle of the first upload in parts.
    records = as_records(calls)
    layout = [dict(record.headers).get(HEADER_PART, b"").decode() for record in records]
    cut = next(offset for offset, part in enumerate(layout) if part.endswith(":1:" + part.split(":")[-1]))
    cut_event = dict(records[cut].headers)[HEADER_EVENT_ID].decode()

    nothing = await replay(replayer, WindowSpec(since=started - timedelta(hours=1), until=started))
    assert nothing.records_read == 0
    [window] = [w for w in (await replay(replayer, WindowSpec(since=started), True)).window if w.size]
    assert window.end == len(layout)

    head = await replay(replayer, WindowSpec(from_offsets={window.partition: 0}, until_offsets={window.partition: cut}))
    tail = await replay(replayer, WindowSpec(from_offsets={window.partition: cut}))
    assert (head.records_read, tail.records_read) == (cut, window.end - cut)
    assert head.incomplete_uploads == tail.incomplete_uploads == 1
    assert await event_status(migrated_url, cut_event) is None

    whole = await replay(replayer, WindowSpec(since=started))
    assert sum(whole.refed.values()) == 1
    assert whole.incomplete_uploads == 0
    assert await event_status(migrated_url, cut_event) in {"applied", "stale"}  # stale: a later full sync won
    assert await read_snapshot(migrated_url, tenant) == expected_state(calls)[tenant]


async def test_a_replay_past_the_database_horizon_re_applies_as_stale_and_names_both_horizons(
    worker_settings: Settings, connection: asyncpg.Connection, migrated_url: str, replayer: Replayer
) -> None:
    """The topic outlives the database's history here: the events are pruned, their records are not."""
    (tenant,), calls = simulated_calls(seed=23, tenants=1)
    since = datetime.now(UTC) - timedelta(seconds=1)
    await publish(worker_settings, calls)
    first = await replay(replayer, WindowSpec(since=since))
    assert first.outcomes["applied"] > 0
    state = await read_snapshot(migrated_url, tenant)

    later = await connection.fetchval("SELECT now() + interval '40 days'")
    await run_retention(connection, RetentionPolicy(timedelta(days=2), timedelta(hours=1), timedelta(days=3)), later)
    assert await connection.fetchval("SELECT count(*) FROM events") == 0
    await ensure_all_partitions(connection)  # the test's clock went back forty days: today's again

    again = await replay(replayer, WindowSpec(since=since))

    assert sum(again.already_had.values()) == 0
    assert set(again.outcomes) <= {"stale", "test"}
    assert await read_snapshot(migrated_url, tenant) == state
    horizons = again.to_json()["horizons"]
    assert horizons["kafkaRetentionMs"] == worker_settings.topic_retention_ms
    assert horizons["databaseHistoryPrunedBefore"] == (later - timedelta(days=2)).isoformat()
    text = render_replay(again, worker_settings.events_topic)
    assert "SYNCPIPE_TOPIC_RETENTION_MS" in text
    assert "stale by version" in text
