"""A compressed clock for the retention tests: calls applied on chosen days, pruned on later ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from runtime.postgres.partitions import ensure_all_partitions
from tests.workers.replay.recovery_fixtures import DiscardedLetters
from workers.applier.batch import BatchResult, apply_batch
from workers.applier.records import ConsumedRecord
from workers.retention.prune import RetentionPolicy

# Years after the database's own clock: every row of these tests is in a partition of its own days,
# none in the one the migration made of the tables as they were.
BASE = datetime(2031, 1, 6, tzinfo=UTC)
POLICY = RetentionPolicy(events=timedelta(days=2), sent_acks=timedelta(hours=1), dead_letters=timedelta(days=3))
STATE_TABLES = ("tenants", "departments", "users", "authorizations", "applications")


def day(number: float) -> datetime:
    return BASE + timedelta(days=number)


async def apply_on(
    connection: asyncpg.Connection, records: Sequence[ConsumedRecord], moment: datetime, batch: int = 40
) -> list[BatchResult]:
    """Through `apply_batch` in batches, every batch finished at `moment` (its partitions made first)."""
    await ensure_all_partitions(connection, moment)
    return [
        await apply_batch(connection, records[start : start + batch], DiscardedLetters(), finished_at=moment)
        for start in range(0, len(records), batch)
    ]


async def dump_state(connection: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of the state tables, versions, tombstones and floors included."""
    dump = {}
    for table in STATE_TABLES:
        rows = await connection.fetch(f"SELECT * FROM {table}")
        dump[table] = sorted(repr(tuple(row.values())) for row in rows)
    return dump
