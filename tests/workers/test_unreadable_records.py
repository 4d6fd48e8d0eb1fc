"""Records that are not envelopes, dead-lettered by `apply_batch` on a real Postgres: under the lock of
their subject like every other writer of its events, and once however often they are read."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from schemas.instance_envelope import HEADER_SUBJECT, INSTANCE_SUBJECT
from tests.workers.advisory_locks import waits_behind
from tests.workers.replay.recovery_fixtures import DiscardedLetters
from workers.applier.batch import apply_batch
from workers.applier.instance_store import lock_instances
from workers.applier.records import ConsumedRecord


def unreadable_instance_record(instance: str, event: str, offset: int = 7) -> ConsumedRecord:
    headers = ((HEADER_SUBJECT, INSTANCE_SUBJECT), ("syncpipe-event-id", event.encode()))
    return ConsumedRecord("events", 0, offset, instance.encode(), b"{not json", headers)


def unreadable_sync_record(tenant: str, event: str, offset: int = 8) -> ConsumedRecord:
    return ConsumedRecord("events", 0, offset, tenant.encode(), b"{not json", (("syncpipe-event-id", event.encode()),))


async def test_an_unreadable_record_read_again_keeps_one_row_and_one_letter(connection: asyncpg.Connection) -> None:
    events = [f"broken-{uuid.uuid4().hex}" for _ in range(2)]
    records = [
        unreadable_instance_record(f"inst-{uuid.uuid4().hex[:12]}", events[0]),
        unreadable_sync_record(f"t-{uuid.uuid4().hex[:12]}", events[1]),
    ]
    first = await apply_batch(connection, records, DiscardedLetters())
    # The worker committed the batch but not its offsets (a crash, a rebalance): the records come again.
    again = await apply_batch(connection, records, DiscardedLetters())
    assert [event.event_id for event in first.finished] == events
    assert (again.finished, again.dead_letters, again.redeliveries) == ([], [], 2)
    rows = await connection.fetch(
        "SELECT event_id, status FROM events WHERE event_id = ANY($1) ORDER BY event_id", events
    )
    assert [tuple(row) for row in rows] == sorted((event, "dead_lettered") for event in events)
    letters = await connection.fetch("SELECT event_id, failures FROM dead_letters ORDER BY event_id")
    assert [tuple(row) for row in letters] == sorted((event, 1) for event in events)
    acks = await connection.fetchval("SELECT count(*) FROM ack_outbox WHERE event_id = ANY($1)", events)
    assert acks == 2


async def test_an_unreadable_instance_record_is_dead_lettered_under_its_instance_lock(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    instance, event = f"inst-{uuid.uuid4().hex[:12]}", f"broken-{uuid.uuid4().hex}"
    # Another writer of the instance (a worker's batch, a rebuild, the read API's appInfo) holds its lock.
    holder, worker = await asyncpg.connect(migrated_url), await asyncpg.connect(migrated_url)
    try:
        holding = holder.transaction()
        await holding.start()
        await lock_instances(holder, [instance])
        held_by = await holder.fetchval("SELECT pg_backend_pid()")
        applying = asyncio.create_task(
            apply_batch(worker, [unreadable_instance_record(instance, event)], DiscardedLetters())
        )
        waiting = await waits_behind(connection, held_by, applying)
        assert not applying.done(), "dead-lettered while another writer held the instance lock"
        assert waiting, "the dead-lettering never waited for the instance lock"
        await holding.rollback()
        result = await asyncio.wait_for(applying, 30)
    finally:
        if holder.is_in_transaction():
            await holder.execute("ROLLBACK")
        await holder.close()
        await worker.close()
    assert [(finished.event_id, finished.status.value) for finished in result.finished] == [(event, "dead_lettered")]
    rows = await connection.fetch("SELECT tenant_id, instance_id FROM events WHERE event_id = $1", event)
    assert [tuple(row) for row in rows] == [("", instance)]
