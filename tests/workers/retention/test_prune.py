"""Pruning on a real Postgres, over days of a compressed clock: what goes, what stays, what it means."""

from __future__ import annotations

import json
from collections import Counter

import asyncpg
import pytest

from runtime.postgres.partitions import EVENTS, list_partitions
from schemas.calls import AnyCall, parse_call
from syncpipe.simulation.model import expected_state
from tests.workers.pipeline import read_snapshot
from tests.workers.replay.recovery_fixtures import as_records, damage_tenant, simulated_calls
from tests.workers.retention.days import POLICY, apply_on, day, dump_state
from workers.replay.exceptions import ArchiveUnreadable
from workers.replay.progress import NoProgress
from workers.replay.rebuild import rebuild_tenant
from workers.retention.checkpoints import fold_partition
from workers.retention.maintenance import run_retention
from workers.retention.tenant_checkpoints import TENANT_CHECKPOINTS

pytestmark = pytest.mark.integration


async def seed_over_days(connection: asyncpg.Connection, seed: int, days: int) -> tuple[list[str], list[AnyCall]]:
    """The simulator's histories over `days` days, one per day: each tenant's calls, in timestamp
    order, cut into as many days, so that every tenant has history on every day."""
    tenants, calls = simulated_calls(seed, tenants=3)
    by_day: list[list[AnyCall]] = [[] for _ in range(days)]
    for tenant in tenants:
        own = [call for call in calls if call.tenantId == tenant]
        per_day = -(-len(own) // days)
        for number in range(days):
            by_day[number] += own[number * per_day : (number + 1) * per_day]
    for number, chunk in enumerate(by_day):
        chunk.sort(key=lambda call: call.timeStamp)
        await apply_on(connection, as_records(chunk, first_offset=number * 100_000), day(number))
    return tenants, calls


async def test_pruning_changes_no_tenant_state_and_checkpoints_what_it_drops(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    tenants, calls = await seed_over_days(connection, seed=31, days=4)
    state_before = await dump_state(connection)
    events_before = Counter(
        row["d"] for row in await connection.fetch("SELECT date_trunc('day', finished_at, 'UTC') AS d FROM events")
    )
    with_pruned_effects = {
        row["tenant_id"]
        for row in await connection.fetch(
            "SELECT tenant_id FROM events WHERE finished_at < $1 AND status IN ('applied', 'stale')", day(2)
        )
    }

    run = await run_retention(connection, POLICY, day(4.5))  # keeps 2 days: days 0, 1 go, 2 and 3 stay

    assert run is not None
    # Before them, the partitions of the database's own clock (empty): the test's days are years later.
    assert run.prune.events_partitions_dropped[-2:] == ["events_p20310106", "events_p20310107"]
    assert await dump_state(connection) == state_before
    expected = expected_state(calls)
    assert [await read_snapshot(migrated_url, tenant) for tenant in tenants] == [expected[t] for t in tenants]
    kept = await connection.fetchval("SELECT count(*) FROM events")
    assert kept == events_before[day(2)] + events_before[day(3)]
    assert run.oldest_event == day(2)
    folded = await connection.fetch("SELECT tenant_id, folded_before, events_folded FROM tenant_checkpoints")
    assert {row["tenant_id"] for row in folded} == with_pruned_effects == set(tenants)
    assert {row["folded_before"] for row in folded} == {day(2)}
    assert sum(row["events_folded"] for row in folded) == run.prune.events_folded > 0
    horizon = await connection.fetchval("SELECT horizon FROM retention_horizons WHERE history = 'events'")
    assert horizon == day(2.5)


async def test_a_prune_stopped_after_folding_folds_nothing_twice_and_a_second_run_drops_nothing_more(
    connection: asyncpg.Connection,
) -> None:
    await seed_over_days(connection, seed=32, days=3)
    foldable = {
        row["tenant_id"]: row["n"]
        for row in await connection.fetch(
            "SELECT tenant_id, count(*) AS n FROM events WHERE finished_at < $1"
            " AND status IN ('applied', 'stale') GROUP BY 1",
            day(1),
        )
    }
    [first_day] = [p for p in await list_partitions(connection, EVENTS) if p.lower == day(0)]
    await fold_partition(connection, TENANT_CHECKPOINTS, first_day.name, first_day.upper)  # and then the run stopped

    run = await run_retention(connection, POLICY, day(3))  # horizon day 1: day 0 goes
    checkpoints = await connection.fetch("SELECT * FROM tenant_checkpoints ORDER BY tenant_id")
    again = await run_retention(connection, POLICY, day(3))

    assert run is not None
    assert again is not None
    assert run.prune.events_partitions_dropped[-1] == first_day.name
    assert (run.prune.events_folded, again.prune.events_partitions_dropped) == (0, [])
    assert {row["tenant_id"]: row["events_folded"] for row in checkpoints} == foldable
    assert await connection.fetch("SELECT * FROM tenant_checkpoints ORDER BY tenant_id") == checkpoints


async def test_rebuild_across_the_horizon_starts_from_the_checkpoint_and_restores_what_pruned_calls_wrote(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    (damaged, *others), calls = await seed_over_days(connection, seed=33, days=3)
    expected = expected_state(calls)
    await run_retention(connection, POLICY, day(10))  # every day is past the horizon: no event is left
    assert await connection.fetchval("SELECT count(*) FROM events") == 0

    for tenant in others:  # an intact tenant is reproduced row for row, from its checkpoint alone
        report = await rebuild_tenant(connection, tenant, dry_run=False, progress=NoProgress())
        assert report.diff.unchanged, report.to_json()
        assert report.checkpoint is not None
        assert sum(report.events_used.values()) == 0
    await damage_tenant(connection, damaged)  # rows last written by calls that are no longer archived
    assert await read_snapshot(migrated_url, damaged) != expected[damaged]

    report = await rebuild_tenant(connection, damaged, dry_run=False, progress=NoProgress())

    assert await read_snapshot(migrated_url, damaged) == expected[damaged]
    assert not report.diff.unchanged
    assert report.to_json()["checkpoint"]["eventsFolded"] > 0


async def test_rebuild_with_part_of_the_history_pruned_equals_the_whole_history(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    tenants, calls = await seed_over_days(connection, seed=34, days=4)
    await run_retention(connection, POLICY, day(4.5))
    expected = expected_state(calls)
    for tenant in tenants:
        await damage_tenant(connection, tenant)
        report = await rebuild_tenant(connection, tenant, dry_run=False, progress=NoProgress())
        assert report.checkpoint is not None
        assert sum(report.events_used.values()) > 0
        assert await read_snapshot(migrated_url, tenant) == expected[tenant]


async def test_a_pruned_call_that_no_longer_validates_makes_the_rebuild_refuse(connection: asyncpg.Connection) -> None:
    (tenant, *_), _ = await seed_over_days(connection, seed=35, days=2)
    event_id = await connection.fetchval(
        "UPDATE events SET call = '{\"tenantId\": 1}' WHERE event_id = (SELECT event_id FROM events"
        " WHERE tenant_id = $1 AND status = 'applied' AND finished_at < $2 LIMIT 1) RETURNING event_id",
        tenant,
        day(1),
    )
    run = await run_retention(connection, POLICY, day(3.5))
    assert run is not None
    assert [unread for unread, _ in run.prune.unreadable] == [event_id]
    state_before = await dump_state(connection)

    with pytest.raises(ArchiveUnreadable, match=event_id):
        await rebuild_tenant(connection, tenant, dry_run=False, progress=NoProgress())
    assert await dump_state(connection) == state_before


async def test_a_call_re_sent_after_its_history_was_pruned_is_stale_acknowledged_and_changes_nothing(
    connection: asyncpg.Connection,
) -> None:
    _, calls = await seed_over_days(connection, seed=36, days=2)
    await run_retention(connection, POLICY, day(5))
    assert await connection.fetchval("SELECT count(*) FROM events") == 0
    state_before = await dump_state(connection)

    results = await apply_on(connection, as_records(calls, first_offset=500_000), day(5))

    finished = [event for result in results for event in result.finished]
    assert len({event.event_id for event in finished}) == len(finished) == len(calls)
    assert {event.status.value for event in finished} == {"stale", "test"}
    assert await dump_state(connection) == state_before
    acks = await connection.fetch("SELECT event_id, body::text AS body FROM ack_outbox WHERE created_at = $1", day(5))
    assert sorted(row["event_id"] for row in acks) == sorted(event.event_id for event in finished)
    assert {json.loads(row["body"])["status"] for row in acks} == {"stale", "test"}


async def test_a_tombstone_and_a_floor_still_hold_after_the_calls_that_made_them_are_pruned(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    def call(interface: str, millis: int, **fields: object) -> AnyCall:
        return parse_call(interface, {"tenantId": "t-ret-floor", "timeStamp": f"20310101000000{millis:03d}", **fields})

    add_a = call("singleOrgSync", 100, flag=1, orgCode="A", orgName="a")
    add_b = call("singleOrgSync", 110, flag=1, orgCode="B", orgName="b")
    delete_a = call("singleOrgSync", 200, flag=0, orgCode="A")
    tenant_delete = call("tenantSync", 300, flag=0, name="gone")
    await apply_on(connection, as_records([add_a, add_b, delete_a, tenant_delete]), day(0))
    await run_retention(connection, POLICY, day(5))
    snapshot = await read_snapshot(migrated_url, "t-ret-floor")

    # Re-sent long after: the older adds meet the tombstone of A and the tenant floor, not a dedupe row.
    results = await apply_on(connection, as_records([add_a, add_b], first_offset=1000), day(5))

    assert [event.status.value for event in results[0].finished] == ["stale", "stale"]
    assert await read_snapshot(migrated_url, "t-ret-floor") == snapshot
    assert (snapshot.tenant or {}).get("deleted") is True
    assert snapshot.departments == []


async def test_within_the_horizon_a_re_sent_call_is_a_duplicate_and_a_record_read_again_owes_no_ack(
    connection: asyncpg.Connection,
) -> None:
    _, calls = simulated_calls(37, tenants=1)
    first = as_records(calls[:5])
    await apply_on(connection, first, day(0))
    acks_before = await connection.fetchval("SELECT count(*) FROM ack_outbox")

    redelivered = await apply_on(connection, first, day(1))  # the same records: a rebalance, a day later
    re_sent = await apply_on(connection, as_records(calls[:5], first_offset=100), day(1.5))  # the same calls

    assert [r.redeliveries for r in redelivered] == [len(first)]
    assert redelivered[0].finished == []
    assert {event.status.value for event in re_sent[0].finished} == {"duplicate"}
    assert await connection.fetchval("SELECT count(*) FROM ack_outbox") == acks_before + 5
    assert await connection.fetchval("SELECT sum(duplicates) FROM events") == 5
    assert await connection.fetchval("SELECT count(*) FROM events") == 5


async def test_a_call_stamped_days_ahead_of_the_clock_is_still_found_as_a_duplicate(
    connection: asyncpg.Connection,
) -> None:
    """Its row is in a partition before the day its timeStamp allows: `early_events` lists it."""
    ahead = parse_call(
        "singleOrgSync",
        {"tenantId": "t-ret-early", "timeStamp": "20310120000000000", "flag": 1, "orgCode": "A", "orgName": "a"},
    )
    await apply_on(connection, as_records([ahead]), day(0))  # Jan 6, fourteen days before its timeStamp
    assert await connection.fetchval("SELECT count(*) FROM early_events") == 1

    again = await apply_on(connection, as_records([ahead], first_offset=10), day(1))
    assert [event.status.value for event in again[0].finished] == ["duplicate"]

    await run_retention(connection, POLICY, day(5))
    assert await connection.fetchval("SELECT count(*) FROM early_events") == 0  # gone with its partition
