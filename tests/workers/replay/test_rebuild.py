"""Rebuilding a tenant from the `events` archive, on a real Postgres seeded through `apply_batch`."""

from __future__ import annotations

import asyncpg
import pytest

from syncpipe.simulation.model import expected_state
from tests.workers.pipeline import read_snapshot
from tests.workers.replay.recovery_fixtures import (
    apply_records,
    as_records,
    damage_tenant,
    dump_tables,
    shuffled_with_duplicates,
    simulated_calls,
)
from workers.replay.exceptions import ArchiveUnreadable, NotFound
from workers.replay.progress import NoProgress
from workers.replay.rebuild import rebuild_tenant

pytestmark = pytest.mark.integration


async def seed(connection: asyncpg.Connection, seed: int, tenants: int = 3) -> tuple[list[str], dict]:  # type: ignore[type-arg]
    ids, calls = simulated_calls(seed, tenants)
    await apply_records(connection, as_records(shuffled_with_duplicates(calls, seed)))
    return ids, expected_state(calls)


async def test_a_damaged_tenant_is_rebuilt_to_the_reference_model_and_others_are_untouched(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    (damaged, *others), expected = await seed(connection, seed=11)
    assert await read_snapshot(migrated_url, damaged) == expected[damaged]
    done = await damage_tenant(connection, damaged)
    assert await read_snapshot(migrated_url, damaged) != expected[damaged]
    others_before = [await read_snapshot(migrated_url, tenant) for tenant in others]
    events_before = (await dump_tables(connection))["events"]

    report = await rebuild_tenant(connection, damaged, dry_run=False, progress=NoProgress())

    assert await read_snapshot(migrated_url, damaged) == expected[damaged]
    assert [await read_snapshot(migrated_url, tenant) for tenant in others] == others_before
    assert (await dump_tables(connection))["events"] == events_before  # the archive is read, never written
    departments = report.diff.kinds["departments"]
    assert (departments.added, departments.removed) == (done["departments_lost"], 1)  # 1: the invented one
    assert report.diff.kinds["users"].changed == done["users_altered"]
    assert report.diff.kinds["authorizations"].added == report.rows_after["authorizations"] > 0
    assert report.diff.tenant_change == "changed"
    assert (report.diff.tenant_before or {}).get("name") == "wrong name"


async def test_rebuilding_intact_tenants_reproduces_every_row(connection: asyncpg.Connection) -> None:
    """The rebuild is the incremental pipeline's result exactly: versions, tombstones and floors too."""
    tenants, _ = await seed(connection, seed=12, tenants=4)
    before = await dump_tables(connection)
    for tenant in tenants:
        report = await rebuild_tenant(connection, tenant, dry_run=False, progress=NoProgress())
        assert report.diff.unchanged, (tenant, report.to_json())
    assert await dump_tables(connection) == before


async def test_a_dry_run_reports_the_rebuild_and_changes_nothing(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    (tenant, *_), expected = await seed(connection, seed=13, tenants=2)
    await damage_tenant(connection, tenant)
    damaged = await dump_tables(connection)

    dry = await rebuild_tenant(connection, tenant, dry_run=True, progress=NoProgress())
    assert await dump_tables(connection) == damaged
    assert not dry.diff.unchanged

    real = await rebuild_tenant(connection, tenant, dry_run=False, progress=NoProgress())
    assert real.diff == dry.diff
    assert await read_snapshot(migrated_url, tenant) == expected[tenant]


async def test_a_tenant_without_archived_events_is_refused(connection: asyncpg.Connection) -> None:
    await connection.execute(
        "INSERT INTO departments (tenant_id, org_code, version, deleted, org_name, parent_code)"
        " VALUES ('t-no-events', 'A', now(), false, 'A', '')"
    )
    before = await dump_tables(connection)
    with pytest.raises(NotFound):
        await rebuild_tenant(connection, "t-no-events", dry_run=False, progress=NoProgress())
    assert await dump_tables(connection) == before


async def test_archived_calls_that_no_longer_validate_stop_the_rebuild(connection: asyncpg.Connection) -> None:
    (tenant, *_), _ = await seed(connection, seed=14, tenants=1)
    await connection.execute(
        "UPDATE events SET call = call - 'timeStamp' WHERE event_id = (SELECT event_id FROM events"
        " WHERE tenant_id = $1 AND status = 'applied' ORDER BY event_id LIMIT 1)",
        tenant,
    )
    before = await dump_tables(connection)
    with pytest.raises(ArchiveUnreadable, match="timeStamp"):
        await rebuild_tenant(connection, tenant, dry_run=False, progress=NoProgress())
    assert await dump_tables(connection) == before
