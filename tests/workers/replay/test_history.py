"""A tenant's event history, on a real Postgres seeded through `apply_batch`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.workers.replay.recovery_fixtures import apply_records, as_records, simulated_calls
from workers.applier.records import ConsumedRecord
from workers.replay.history import tenant_history

pytestmark = pytest.mark.integration


async def test_the_history_lists_each_event_with_its_status_dead_letter_and_ack(
    connection: asyncpg.Connection,
) -> None:
    (tenant, other), calls = simulated_calls(seed=31, tenants=2)
    records = as_records(calls)
    unreadable = ConsumedRecord("seeded", 0, len(records), tenant.encode(), b"not json", ())
    await apply_records(connection, [*records, unreadable])
    mine = await connection.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant)

    full = await tenant_history(connection, tenant, since=None, limit=1000)
    assert len(full.entries) == mine
    assert not full.more
    assert {entry.event_id for entry in full.entries} == set(
        await connection.fetchval("SELECT array_agg(event_id) FROM events WHERE tenant_id = $1", tenant)
    )
    assert [entry.at for entry in full.entries] == sorted(entry.at for entry in full.entries)
    [dead] = [entry for entry in full.entries if entry.status == "dead_lettered"]
    assert dead.event_id == unreadable.synthetic_event_id()
    assert dead.dead_letter_state == "dead"
    assert dead.dead_letter_id is not None
    assert "not JSON" in (dead.reason or "")
    assert {entry.ack for entry in full.entries} == {"pending"}  # no acker ran

    only_dead = await tenant_history(connection, tenant, since=None, limit=10, statuses=["dead_lettered", "test"])
    assert dead in only_dead.entries
    assert {entry.status for entry in only_dead.entries} <= {"dead_lettered", "test"}

    newest = await tenant_history(connection, tenant, since=None, limit=3)
    assert newest.entries == full.entries[-3:]
    assert newest.more
    assert (
        await tenant_history(connection, tenant, since=datetime.now(UTC) + timedelta(hours=1), limit=5)
    ).entries == []

    await connection.execute("DROP TABLE ack_outbox")  # a database from before acks existed
    assert {entry.ack for entry in (await tenant_history(connection, other, since=None, limit=5)).entries} == {
        "unknown"
    }
