"""The other histories: sent acks leave by the hour, owed ones never; decided dead letters and abandoned
uploads leave past their horizons; what the read API says of an event whose ack rows are gone."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from read_api.console.queries import fetch_event_detail
from read_api.console.views import render_event_detail
from read_api.event_status import render_event_status
from read_api.queries import fetch_event_status
from runtime.outages import is_retriable
from tests.workers.replay.recovery_fixtures import DiscardedLetters, as_records, simulated_calls
from tests.workers.retention.days import POLICY, apply_on, day
from workers.acks.outbox import AckOutcome, claim_due_acks, record_outcomes
from workers.applier.batch import apply_batch
from workers.replay.history import tenant_history
from workers.retention.maintenance import run_retention

pytestmark = pytest.mark.integration

_LEASE_S = 30.0


async def send_every_ack(connection: asyncpg.Connection) -> int:
    """What an acker does with a platform that takes everything: claim, POST, mark sent."""
    sent = 0
    while claimed := await claim_due_acks(connection, 100, _LEASE_S):
        await record_outcomes(connection, [AckOutcome(ack.ack_id) for ack in claimed])
        sent += len(claimed)
    return sent


async def test_an_hour_of_acks_goes_once_sent_and_not_before(connection: asyncpg.Connection) -> None:
    (tenant,), calls = simulated_calls(41, tenants=1)
    finished_at = day(0) + timedelta(hours=10, minutes=30)
    await apply_on(connection, as_records(calls[:6]), finished_at)
    owed = await connection.fetchval("SELECT count(*) FROM ack_outbox")

    held = await run_retention(connection, POLICY, finished_at + timedelta(hours=3))  # past its horizon
    assert held is not None
    assert held.prune.ack_partitions_held == ["ack_outbox_p2031010610"]
    assert "ack_outbox_p2031010610" not in held.prune.ack_partitions_dropped
    assert await connection.fetchval("SELECT count(*) FROM ack_outbox") == owed

    assert await send_every_ack(connection) == owed
    dropped = await run_retention(connection, POLICY, finished_at + timedelta(hours=3))
    assert dropped is not None
    assert "ack_outbox_p2031010610" in dropped.prune.ack_partitions_dropped
    assert await connection.fetchval("SELECT count(*) FROM ack_outbox") == 0

    # The events stay (two days): their acks read as sent, how many attempts it took is gone.
    event_id = await connection.fetchval("SELECT event_id FROM events WHERE status = 'applied' LIMIT 1")
    status = await fetch_event_status(connection, event_id)
    assert status is not None
    assert render_event_status(status)["ack"] == {"state": "sent", "attempts": None, "lastError": None}
    detail = await fetch_event_detail(connection, event_id)
    assert detail is not None
    rendered = render_event_detail(detail)
    assert (rendered["acks"], rendered["acksPruned"]) == ([], True)
    assert "ack_sent" in [step["status"] for step in rendered["history"]]
    history = await tenant_history(connection, tenant, since=None, limit=100)
    assert {entry.ack for entry in history.entries} == {"sent"}


async def test_an_event_finished_after_the_horizon_without_an_ack_row_reads_as_having_none(
    connection: asyncpg.Connection,
) -> None:
    (tenant,), calls = simulated_calls(42, tenants=1)
    await run_retention(connection, POLICY, day(0))
    await apply_on(connection, as_records(calls[:2]), day(0) + timedelta(hours=1))
    await connection.execute("DELETE FROM ack_outbox")  # no ack row, and not for retention's reasons

    history = await tenant_history(connection, tenant, since=None, limit=10)
    assert {entry.ack for entry in history.entries} == {"none"}
    event_id = await connection.fetchval("SELECT event_id FROM events LIMIT 1")
    detail = await fetch_event_detail(connection, event_id)
    assert detail is not None
    assert (detail.acks, detail.acks_pruned) == ([], False)  # the console reads it as the history does


async def test_decided_dead_letters_go_after_their_horizon_and_waiting_ones_stay(
    connection: asyncpg.Connection,
) -> None:
    def letter(offset: int, state: str, decided_days_ago: float) -> tuple[object, ...]:
        decided = day(10) - timedelta(days=decided_days_ago)
        return (f"e{offset}", state, offset, decided if state == "dropped" else None, decided)

    rows = [
        letter(1, "dropped", 5),  # decided long ago: goes
        letter(2, "retried", 5),  # re-driven long ago: goes
        letter(3, "dropped", 1),  # decided recently: stays
        letter(4, "dead", 50),  # still waiting for a decision: stays, however old
    ]
    await connection.executemany(
        "INSERT INTO dead_letters (event_id, tenant_id, interface, reason, source_topic, source_partition,"
        " source_offset, headers, state, dropped_at, retried_at, failed_at, created_at)"
        " VALUES ($1, 't', 'singleOrgSync', 'bad', 'events', 0, $3, '[]', $2, $4, $5, $5, $5)",
        rows,
    )

    run = await run_retention(connection, POLICY, day(10))  # keeps decided letters 3 days

    assert run is not None
    assert run.prune.dead_letters_deleted == 2
    assert sorted(await connection.fetch("SELECT event_id FROM dead_letters")) == [("e3",), ("e4",)]


async def test_an_upload_still_incomplete_a_day_after_its_last_part_goes(connection: asyncpg.Connection) -> None:
    parts = [
        ("abandoned", 0, 3, day(8)),
        ("abandoned", 1, 3, day(8) + timedelta(hours=1)),
        ("arriving", 0, 3, day(8) + timedelta(hours=1)),
        ("arriving", 1, 3, day(9) + timedelta(hours=2)),  # its newest part is recent: the upload stays
    ]
    await connection.executemany(
        "INSERT INTO event_parts (upload_id, part_index, part_count, event_id, tenant_id, data, received_at)"
        " VALUES ($1, $2, $3, 'e', 't', 'x', $4)",
        parts,
    )

    run = await run_retention(connection, POLICY, day(9) + timedelta(hours=3))

    assert run is not None
    assert run.prune.upload_parts_deleted == 2
    assert await connection.fetchval("SELECT array_agg(DISTINCT upload_id) FROM event_parts") == ["arriving"]


async def test_a_batch_whose_partition_was_not_made_ahead_fails_as_an_outage_and_applies_once_it_is(
    connection: asyncpg.Connection,
) -> None:
    """Retention failing for longer than the lead: the applier waits (retriable), it dead-letters nothing."""
    _, calls = simulated_calls(43, tenants=1)
    records = as_records(calls[:3])
    far = day(400)  # no partition this far ahead

    with pytest.raises(asyncpg.CheckViolationError) as failure:
        await apply_batch(connection, records, DiscardedLetters(), finished_at=far)
    assert is_retriable(failure.value)
    assert await connection.fetchval("SELECT count(*) FROM events") == 0

    await run_retention(connection, POLICY, far)
    result = await apply_batch(connection, records, DiscardedLetters(), finished_at=far)
    assert {event.status.value for event in result.finished} <= {"applied", "stale", "test"}
