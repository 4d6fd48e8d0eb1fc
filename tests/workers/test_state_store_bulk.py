"""Large department upserts (a full sync of a big enterprise) take the COPY path of the state store:
same version guard as the small path, and usable more than once in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from runtime.postgres.migrate import migrate_url
from workers.applier.state_store import _COPY_THRESHOLD_ROWS, save_changes
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
