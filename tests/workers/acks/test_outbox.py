"""The ack outbox on a real Postgres: enqueue, claim with a lease, per-event order, outcomes."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from schemas.timestamps import format_platform_time
from tests.workers.acks.finished_events import commit_finished, finished
from workers.acks.outbox import AckOutcome, claim_due_acks, record_outcomes
from workers.outcomes import EventStatus

pytestmark = pytest.mark.integration

LEASE_S = 60.0


async def test_each_finished_event_gets_its_ack_in_the_same_transaction(db: asyncpg.Connection) -> None:
    events = [
        finished(EventStatus.APPLIED),
        finished(EventStatus.STALE),
        finished(EventStatus.TEST),
        finished(EventStatus.DEAD_LETTERED, reason="orgCode: required field is missing"),
    ]
    await commit_finished(db, events)

    rows = await db.fetch("SELECT event_id, body::text AS body, attempts, sent_at FROM ack_outbox ORDER BY ack_id")
    finished_at = await db.fetchval("SELECT finished_at FROM events WHERE event_id = $1", events[0].event_id)
    bodies = [json.loads(row["body"]) for row in rows]
    assert [row["event_id"] for row in rows] == [event.event_id for event in events]
    assert [body["status"] for body in bodies] == ["applied", "stale", "test", "dead_lettered"]
    assert [body["resultCode"] for body in bodies] == ["000000", "000000", "000000", "000003"]
    assert bodies[3]["resultMsg"] == "dead_lettered: orgCode: required field is missing"
    assert {body["finishedAt"] for body in bodies} == {format_platform_time(finished_at)}
    assert all(row["attempts"] == 0 and row["sent_at"] is None for row in rows)


async def test_a_rolled_back_batch_leaves_no_ack(db: asyncpg.Connection) -> None:
    async def batch_failing_after_its_acks() -> None:
        async with db.transaction():
            await commit_finished(db, [finished()])
            raise RuntimeError("the batch failed after writing its acks")

    with pytest.raises(RuntimeError):
        await batch_failing_after_its_acks()
    assert await db.fetchval("SELECT count(*) FROM ack_outbox") == 0


async def test_a_record_delivered_again_owes_no_second_ack_but_a_re_sent_call_does(db: asyncpg.Connection) -> None:
    """The outcomes that reach the outbox again when their record is read again: a re-sent copy's
    `duplicate` and a `dead_lettered` record. (A new event's record read again is a redelivery to
    the applier, which finds the event's row and enqueues nothing: tests/workers/retention.)"""
    original = finished(offset=10)
    copy = finished(EventStatus.DUPLICATE, event_id=original.event_id, offset=11)
    letter = finished(EventStatus.DEAD_LETTERED, offset=12)
    await commit_finished(db, [original])
    await commit_finished(db, [copy, letter])
    await commit_finished(db, [copy, letter])  # the same Kafka records, read again after a rebalance

    statuses = await db.fetch("SELECT body->>'status' AS status FROM ack_outbox ORDER BY ack_id")
    assert [row["status"] for row in statuses] == ["applied", "dead_lettered", "duplicate"]
    assert await db.fetchval("SELECT count(*) FROM events") == 2


async def test_a_claim_leases_rows_so_no_one_else_takes_them(db: asyncpg.Connection, database_url: str) -> None:
    await commit_finished(db, [finished() for _ in range(5)])

    first = await claim_due_acks(db, 3, LEASE_S)
    second = await claim_due_acks(db, 10, LEASE_S)
    third = await claim_due_acks(db, 10, LEASE_S)

    assert (len(first), len(second), third) == (3, 2, [])
    assert {ack.attempt for ack in first + second} == {1}
    assert {ack.body["status"] for ack in first} == {"applied"}
    await db.execute("UPDATE ack_outbox SET next_attempt_at = now()")  # every lease ran out: the acker died
    again = await claim_due_acks(db, 10, LEASE_S)
    assert sorted(ack.ack_id for ack in again) == sorted(ack.ack_id for ack in first + second)
    assert {ack.attempt for ack in again} == {2}


async def test_ackers_claiming_at_once_get_disjoint_rows(db: asyncpg.Connection, database_url: str) -> None:
    await commit_finished(db, [finished() for _ in range(300)])
    connections = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        claims = await asyncio.gather(*(claim_due_acks(c, 100, LEASE_S) for c in connections))
    finally:
        for connection in connections:
            await connection.close()

    claimed = [ack.ack_id for claim in claims for ack in claim]
    assert len(claimed) == len(set(claimed)) == 300


async def test_a_duplicate_ack_waits_until_the_events_own_ack_is_sent(db: asyncpg.Connection) -> None:
    """Listed first by the applier when both finish in one batch, and still sent second."""
    original = finished(offset=20)
    duplicate = finished(EventStatus.DUPLICATE, event_id=original.event_id, offset=21)
    await commit_finished(db, [duplicate, original])

    [first] = await claim_due_acks(db, 10, LEASE_S)
    assert first.body["status"] == "applied"
    await record_outcomes(db, [AckOutcome(first.ack_id, "HTTP 500: busy", 0.0)])
    [retried] = await claim_due_acks(db, 10, LEASE_S)
    assert retried.ack_id == first.ack_id
    await record_outcomes(db, [AckOutcome(first.ack_id)])
    [second] = await claim_due_acks(db, 10, LEASE_S)
    assert second.body["status"] == "duplicate"


async def test_outcomes_mark_sent_or_schedule_a_retry(db: asyncpg.Connection) -> None:
    await commit_finished(db, [finished(), finished()])
    delivered, failed = await claim_due_acks(db, 2, LEASE_S)

    await record_outcomes(db, [AckOutcome(delivered.ack_id), AckOutcome(failed.ack_id, "HTTP 503: later", 30.0)])
    await record_outcomes(db, [AckOutcome(delivered.ack_id, "a late failure from a lease that ran out", 1.0)])

    rows = {
        row["ack_id"]: row
        for row in await db.fetch(
            "SELECT ack_id, sent_at, attempts, last_error, next_attempt_at - now() AS wait FROM ack_outbox"
        )
    }
    assert rows[delivered.ack_id]["sent_at"] is not None
    assert rows[delivered.ack_id]["last_error"] is None
    assert rows[failed.ack_id]["sent_at"] is None
    assert rows[failed.ack_id]["last_error"] == "HTTP 503: later"
    assert rows[failed.ack_id]["attempts"] == 1
    assert 29 < rows[failed.ack_id]["wait"].total_seconds() <= 30
    assert await claim_due_acks(db, 10, LEASE_S) == []
