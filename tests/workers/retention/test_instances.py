"""Instance calls (SPEC §9) on the partitioned history: deduped without a unique event id, across
partitions and after a prune, and rebuilt from their instance's checkpoint once their days are gone."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import pytest

from schemas.instance_calls import derive_instance_id, parse_instance_change
from schemas.instance_envelope import InstanceEnvelope, encode_instance_event
from syncpipe.simulation.instance_model import SignedCall, expected_instances, served_instance
from tests.workers.retention.days import POLICY, apply_on, day
from workers.applier.instance_store import load_instances
from workers.applier.records import ConsumedRecord
from workers.domain.instance_views import render_instance
from workers.replay.exceptions import ArchiveUnreadable
from workers.replay.instance_rebuild import rebuild_instance
from workers.replay.progress import NoProgress
from workers.retention.checkpoints import load_checkpoint
from workers.retention.instance_checkpoints import INSTANCE_CHECKPOINTS
from workers.retention.maintenance import run_retention

pytestmark = pytest.mark.integration

ORDER = ("CS-RET-1", "line-1")
INSTANCE = derive_instance_id(*ORDER)


def signed(moment: datetime, **body: str) -> SignedCall:
    return SignedCall(parse_instance_change(body), int(moment.timestamp() * 1000))


def lifecycle() -> list[SignedCall]:
    """Opened and renewed on day 0, upgraded on day 1, renewed again on day 3."""
    renew = {"scene": "RENEWAL", "orderId": ORDER[0], "orderLineId": ORDER[1]}
    return [
        signed(day(0), activity="newInstance", orderId=ORDER[0], orderLineId=ORDER[1]),
        signed(day(0.1), activity="refreshInstance", instanceId=INSTANCE, expireTime="20320101000000", **renew),
        signed(day(1), activity="upgradeInstance", instanceId=INSTANCE, orderId="CS-UP", orderLineId="CS-UP-1"),
        signed(day(3), activity="refreshInstance", instanceId=INSTANCE, expireTime="20330101000000", **renew),
    ]


def records(calls: Sequence[SignedCall], first_offset: int = 0) -> list[ConsumedRecord]:
    """The records the gateway writes for `calls`, as one partition."""
    out = []
    for offset, call in enumerate(calls, start=first_offset):
        envelope = InstanceEnvelope.from_call(call.call, call.signed_at_ms, datetime.now(UTC))
        record = encode_instance_event(envelope)
        out.append(ConsumedRecord("seeded", 1, offset, record.key, record.value, tuple(record.headers)))
    return out


async def served(connection: asyncpg.Connection) -> dict[str, object]:
    return served_instance(render_instance((await load_instances(connection, [INSTANCE]))[INSTANCE]))


async def instance_rows(connection: asyncpg.Connection) -> list[str]:
    return sorted(repr(tuple(row.values())) for row in await connection.fetch("SELECT * FROM instances"))


async def test_a_redelivered_or_re_sent_instance_call_is_applied_once_across_partitions(
    connection: asyncpg.Connection,
) -> None:
    opening = records(lifecycle()[:1])
    [first] = await apply_on(connection, opening, day(0))
    assert [event.status.value for event in first.finished] == ["applied"]

    # The next day (another partition of `events`): the same record read again, then another record of
    # the same call (the platform re-sent it), twice in one batch.
    [redelivered] = await apply_on(connection, opening, day(1))
    [re_sent] = await apply_on(connection, records(lifecycle()[:1] * 2, first_offset=10), day(1.5))

    assert (redelivered.redeliveries, redelivered.finished) == (1, [])
    assert [event.status.value for event in re_sent.finished] == ["duplicate", "duplicate"]
    event_id = first.finished[0].event_id
    assert await connection.fetchval("SELECT count(*) FROM events WHERE event_id = $1", event_id) == 1
    assert await connection.fetchval("SELECT duplicates FROM events WHERE event_id = $1", event_id) == 2
    assert await connection.fetchval("SELECT count(*) FROM ack_outbox WHERE event_id = $1", event_id) == 3
    stored = (await load_instances(connection, [INSTANCE]))[INSTANCE]
    assert list(stored.changes) == [event_id]


async def test_a_re_sent_instance_call_and_its_copy_in_one_batch_are_one_event(connection: asyncpg.Connection) -> None:
    [result] = await apply_on(connection, records(lifecycle()[:1] * 2), day(0))
    assert sorted(event.status.value for event in result.finished) == ["applied", "duplicate"]
    assert await connection.fetchval("SELECT count(*) FROM events") == 1


async def test_an_instance_call_signed_days_ahead_of_the_clock_is_still_found_as_a_duplicate(
    connection: asyncpg.Connection,
) -> None:
    ahead = signed(day(14), activity="newInstance", orderId=ORDER[0], orderLineId=ORDER[1])
    await apply_on(connection, records([ahead]), day(0))
    assert await connection.fetchval("SELECT count(*) FROM early_events") == 1

    [again] = await apply_on(connection, records([ahead], first_offset=10), day(1))
    assert [event.status.value for event in again.finished] == ["duplicate"]


async def test_an_instance_call_re_sent_after_its_history_was_pruned_is_stale_acknowledged_and_changes_nothing(
    connection: asyncpg.Connection,
) -> None:
    calls = lifecycle()
    await apply_on(connection, records(calls), day(3))
    await run_retention(connection, POLICY, day(8))
    assert await connection.fetchval("SELECT count(*) FROM events") == 0
    before = await instance_rows(connection)

    [result] = await apply_on(connection, records(calls, first_offset=100), day(8))

    assert [event.status.value for event in result.finished] == ["stale"] * len(calls)
    assert await instance_rows(connection) == before
    acks = await connection.fetch("SELECT body::text AS body FROM ack_outbox WHERE created_at = $1", day(8))
    assert sorted(json.loads(row["body"])["status"] for row in acks) == ["stale"] * len(calls)


async def test_pruning_keeps_the_instance_and_rebuild_starts_from_its_checkpoint(
    connection: asyncpg.Connection,
) -> None:
    calls = lifecycle()
    for call in calls:
        await apply_on(connection, records([call], first_offset=calls.index(call)), datetime_of(call))
    expected = expected_instances(calls)[INSTANCE]
    assert await served(connection) == expected
    before = await instance_rows(connection)

    run = await run_retention(connection, POLICY, day(4.5))  # keeps 2 days: days 0 and 1 go

    assert run is not None
    assert (run.prune.instances_checkpointed, run.prune.unreadable) == (2, [])  # day 0's partition, day 1's
    assert await instance_rows(connection) == before
    assert await connection.fetchval("SELECT count(*) FROM tenant_checkpoints") == 0  # not a tenant's ''
    checkpoint = await load_checkpoint(connection, INSTANCE_CHECKPOINTS, INSTANCE)
    assert checkpoint is not None
    assert checkpoint.events_folded == 3
    assert await connection.fetchval("SELECT count(*) FROM events WHERE instance_id = $1", INSTANCE) == 1

    # The instance's row damaged: the retained renewal alone would leave it `waiting` with no order.
    await connection.execute(
        "UPDATE instances SET changes = '[]'::jsonb, expire_time = '19990101000000' WHERE instance_id = $1", INSTANCE
    )
    rebuilt = await rebuild_instance(connection, INSTANCE, dry_run=False, progress=NoProgress())

    assert served_instance(rebuilt.after) == expected
    assert await served(connection) == expected
    assert rebuilt.checkpoint is not None
    assert sum(rebuilt.events_used.values()) == 1
    assert rebuilt.to_json()["checkpoint"]["eventsFolded"] == 3


async def test_an_instance_whose_calls_were_all_pruned_is_rebuilt_from_its_checkpoint_alone(
    connection: asyncpg.Connection,
) -> None:
    calls = lifecycle()
    await apply_on(connection, records(calls), day(3))
    expected = expected_instances(calls)[INSTANCE]
    await run_retention(connection, POLICY, day(8))
    await connection.execute("DELETE FROM instances")

    rebuilt = await rebuild_instance(connection, INSTANCE, dry_run=False, progress=NoProgress())

    assert served_instance(rebuilt.after) == expected
    assert rebuilt.events_used.total() == 0


async def test_a_pruned_instance_call_that_no_longer_validates_makes_its_rebuild_refuse(
    connection: asyncpg.Connection,
) -> None:
    calls = lifecycle()
    await apply_on(connection, records(calls), day(0))
    broken = await connection.fetchval(
        'UPDATE events SET call = \'{"activity": "upgradeInstance"}\'::jsonb'
        " WHERE interface = 'upgradeInstance' RETURNING event_id"
    )
    run = await run_retention(connection, POLICY, day(5))
    assert run is not None
    assert [event_id for event_id, _ in run.prune.unreadable] == [broken]
    before = await instance_rows(connection)

    with pytest.raises(ArchiveUnreadable, match=broken):
        await rebuild_instance(connection, INSTANCE, dry_run=False, progress=NoProgress())
    assert await instance_rows(connection) == before


def datetime_of(call: SignedCall) -> datetime:
    """The batch instant of a call: when it was signed (the platform sends at once)."""
    return datetime.fromtimestamp(call.signed_at_ms / 1000, UTC)
