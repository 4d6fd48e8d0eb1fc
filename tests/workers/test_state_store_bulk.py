"""Large department upserts (a full sync of a big enterprise) take the COPY path of the state store:
same version guard as the small path, and usable more than once in one transaction; departments a
whole tenant's load did not find are copied straight into the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from runtime.postgres.migrate import migrate_url
from workers.applier.state_store import _COPY_THRESHOLD_ROWS, load_states, save_changes
from workers.domain.keys import StateKeys
from workers.domain.records import DepartmentRecord
from workers.domain.tenant_state import TenantState

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COUNT = _COPY_THRESHOLD_ROWS + 10


def listing(tenant: str, version: datetime, name: str) -> TenantState:
    state = TenantState(tenant)
    for index in range(COUNT):
        state.put_department(DepartmentRecord(f"D{index:06d}", version, False, f"{name} {index}", ""))
    return state


async def stored(connection: asyncpg.Connection, tenant: str) -> dict[str, tuple[datetime, str]]:
    rows = await connection.fetch("SELECT org_code, version, org_name FROM departments WHERE tenant_id = $1", tenant)
    return {row["org_code"]: (row["version"], row["org_name"]) for row in rows}


async def test_a_bulk_upsert_keeps_newer_rows_and_replaces_older_ones(database_url: str) -> None:
    await migrate_url(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await save_changes(connection, {"t-bulk": listing("t-bulk", T0, "first").changes()})
        # One department was changed later than the listings that follow.
        await connection.execute(
            "UPDATE departments SET version = $1, org_name = 'newest'"
            " WHERE tenant_id = 't-bulk' AND org_code = 'D000007'",
            T0 + timedelta(hours=2),
        )
        async with connection.transaction():
            await save_changes(connection, {"t-bulk": listing("t-bulk", T0 - timedelta(hours=1), "older").changes()})
            await save_changes(connection, {"t-bulk": listing("t-bulk", T0 + timedelta(hours=1), "second").changes()})
        rows = await stored(connection, "t-bulk")
    finally:
        await connection.close()

    assert len(rows) == COUNT
    assert rows["D000007"] == (T0 + timedelta(hours=2), "newest")
    assert rows["D000008"] == (T0 + timedelta(hours=1), "second 8")
    assert sum(name.startswith("older") for _, name in rows.values()) == 0


async def test_a_full_listing_inserts_the_departments_not_stored_and_upserts_the_others(database_url: str) -> None:
    """What `load_states` found of a tenant loaded whole goes through the guarded upsert; the rest
    is inserted without one."""
    await migrate_url(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        before = TenantState("t-full")
        before.put_department(DepartmentRecord("D000007", T0 + timedelta(hours=2), False, "newest", ""))
        before.put_department(DepartmentRecord("D000008", T0, False, "old", ""))
        await save_changes(connection, {"t-full": before.changes()})
        async with connection.transaction():
            (state,) = (await load_states(connection, {"t-full": StateKeys(all_departments=True)})).values()
            assert state.stored_departments == {"D000007", "D000008"}
            for index in range(COUNT):
                state.put_department(
                    DepartmentRecord(f"D{index:06d}", T0 + timedelta(hours=1), False, f"full {index}", "")
                )
            await save_changes(connection, {"t-full": state.changes()})
        rows = await stored(connection, "t-full")
    finally:
        await connection.close()

    assert len(rows) == COUNT
    assert rows["D000007"] == (T0 + timedelta(hours=2), "newest")  # the stored newer row kept
    assert rows["D000008"] == (T0 + timedelta(hours=1), "full 8")
    assert rows[f"D{COUNT - 1:06d}"] == (T0 + timedelta(hours=1), f"full {COUNT - 1}")


async def test_a_department_taken_for_absent_that_is_stored_fails_loudly(database_url: str) -> None:
    """Inserted without a guard, it breaks the key: the batch fails (and is retried, split, and
    dead-lettered) rather than overwrite a stored row unguarded."""
    await migrate_url(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await save_changes(connection, {"t-wrong": listing("t-wrong", T0, "first").changes()})
        state = listing("t-wrong", T0 + timedelta(hours=1), "second")
        state.stored_departments = frozenset()  # wrongly: every one of them is stored
        with pytest.raises(asyncpg.UniqueViolationError):
            async with connection.transaction():
                await save_changes(connection, {"t-wrong": state.changes()})
    finally:
        await connection.close()
