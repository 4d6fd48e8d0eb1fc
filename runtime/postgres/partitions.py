"""The time-partitioned tables (migration 0010): their partitions listed, created ahead, detached.

`events` is cut into days of `finished_at`, `ack_outbox` into hours of `created_at`, on UTC
boundaries. A row whose partition does not exist cannot be written, so partitions are created ahead
of time: `lead` ahead by `syncpipe migrate`, `syncpipe retention` and the workers (at start and every
few minutes, workers/retention/); up to the end of the next unit by every `migrate()` (every process
that starts, every test database), which is all a process needs to write at once. Which partitions go, and
what is saved before they go, is decided by workers/retention/; this module only knows the DDL.

Neither creating nor dropping a partition holds up the pipeline: a new partition is created as a
table of its own and attached (`ATTACH PARTITION` takes a lock that reads and writes of the parent do
not wait for), and an old one is detached `CONCURRENTLY` (the same) before it is dropped. `CREATE
TABLE … PARTITION OF` or `DROP TABLE` on a partition would take an exclusive lock on the parent,
queueing every batch behind the transactions in flight.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CREATE_LOCK_KEY = 0x70617274  # "part": one process at a time creates partitions (they would collide)
# DDL waits at most this long for a lock (another process's DDL on the table); the next run retries.
LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class PartitionedTable:
    name: str
    width: timedelta  # of each partition created
    lead: timedelta  # partitions exist this far ahead of now
    label: str  # strftime of a partition's lower bound, in its name

    def partition_name(self, lower: datetime, upper: datetime | None = None) -> str:
        """`<table>_p<lower bound>`, to the unit; to the second for a range that is not one whole unit
        (cut short by an existing partition), whose name could otherwise be a whole unit's."""
        utc = lower.astimezone(UTC)
        whole = self.start_of(lower) == lower and (upper is None or upper - lower == self.width)
        return f"{self.name}_p{utc.strftime(self.label if whole else '%Y%m%d%H%M%S')}"

    def start_of(self, moment: datetime) -> datetime:
        """The lower bound of the partition `moment` falls in."""
        width_us = self.width // timedelta(microseconds=1)
        since_epoch_us = (moment - _EPOCH) // timedelta(microseconds=1)
        return _EPOCH + timedelta(microseconds=since_epoch_us - since_epoch_us % width_us)


# A day of events is the unit history is dropped by; a week ahead outlasts any outage of the workers
# (they create more every few minutes, and at start).
EVENTS = PartitionedTable("events", timedelta(days=1), timedelta(days=7), "%Y%m%d")
# Sent acks leave within an hour of their retention; a day ahead covers a night without a worker.
ACK_OUTBOX = PartitionedTable("ack_outbox", timedelta(hours=1), timedelta(days=1), "%Y%m%d%H")
TABLES = (EVENTS, ACK_OUTBOX)


class Partition(NamedTuple):
    name: str
    lower: datetime | None  # None: from MINVALUE (the table as it was before partitioning)
    upper: datetime
    detaching: bool = False  # a detach that did not finish (interrupted): finish it, then drop


async def list_partitions(connection: asyncpg.Connection, table: PartitionedTable) -> list[Partition]:
    """The table's partitions, oldest first. Bounds are read back through Postgres' own parser."""
    rows = await connection.fetch(
        "SELECT c.relname AS name, i.inhdetachpending AS detaching,"
        " CASE WHEN b LIKE 'FOR VALUES FROM (MINVALUE)%' THEN NULL"
        "  ELSE substring(b FROM 'FROM \\(''([^'']*)''\\)')::timestamptz END AS lower,"
        " substring(b FROM 'TO \\(''([^'']*)''\\)')::timestamptz AS upper"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,"
        " pg_get_expr(c.relpartbound, c.oid) AS b"
        " WHERE i.inhparent = $1::regclass ORDER BY upper",
        table.name,
    )
    return [Partition(row["name"], row["lower"], row["upper"], row["detaching"]) for row in rows]


def missing_ranges(
    table: PartitionedTable, existing: list[Partition], since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """The ranges to create so that [since, until) is covered: one per unit of `table.width`, each cut
    short where an existing partition begins (no overlap, no gap)."""
    wanted: list[tuple[datetime, datetime]] = []
    cursor = since
    ordered = sorted(existing, key=lambda p: p.upper)
    while cursor < until:
        covering = next((p for p in ordered if (p.lower is None or p.lower <= cursor) and cursor < p.upper), None)
        if covering is not None:
            cursor = covering.upper
            continue
        end = table.start_of(cursor) + table.width
        later = [p.lower for p in ordered if p.lower is not None and cursor < p.lower < end]
        end = min([end, *later])
        wanted.append((cursor, end))
        cursor = end
    return wanted


async def ensure_partitions(
    connection: asyncpg.Connection, table: PartitionedTable, now: datetime, *, ahead: bool = True
) -> list[str]:
    """Create the partitions missing from the start of `now`'s unit to `now + lead` (`ahead`), else
    to the end of the next unit; return their names. One process at a time (an advisory lock)."""
    await connection.execute("SELECT pg_advisory_lock($1)", _CREATE_LOCK_KEY)
    try:
        return await _create_missing(connection, table, now, ahead=ahead)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _CREATE_LOCK_KEY)


async def _create_missing(
    connection: asyncpg.Connection, table: PartitionedTable, now: datetime, *, ahead: bool
) -> list[str]:
    since = table.start_of(now)
    until = now + table.lead if ahead else since + 2 * table.width
    ranges = missing_ranges(table, await list_partitions(connection, table), since, until)
    created = []
    for lower, upper in ranges:
        name = table.partition_name(lower, upper)
        async with connection.transaction():
            await connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            await connection.execute(
                f"CREATE TABLE {name} (LIKE {table.name} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)"
            )
            await connection.execute(
                f"ALTER TABLE {table.name} ATTACH PARTITION {name}"
                f" FOR VALUES FROM ({_literal(lower)}) TO ({_literal(upper)})"
            )
        created.append(name)
    if created:
        log.info("created partitions of %s: %s", table.name, ", ".join(created))
    return created


async def ensure_all_partitions(
    connection: asyncpg.Connection, now: datetime | None = None, *, ahead: bool = True
) -> list[str]:
    """`ensure_partitions` for every partitioned table, at `now` (default: the database's clock)."""
    moment: datetime = now or await connection.fetchval("SELECT now()")
    created = []
    for table in TABLES:
        created += await ensure_partitions(connection, table, moment, ahead=ahead)
    return created


async def drop_partition(connection: asyncpg.Connection, table: PartitionedTable, partition: Partition) -> None:
    """Detach `partition` concurrently, then drop it. Outside any transaction (DETACH … CONCURRENTLY
    cannot run in one). A detach interrupted before (`partition.detaching`) is finished instead."""
    await connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    try:
        how = "FINALIZE" if partition.detaching else "CONCURRENTLY"
        await connection.execute(f"ALTER TABLE {table.name} DETACH PARTITION {partition.name} {how}")
        await connection.execute(f"DROP TABLE {partition.name}")
    finally:
        await connection.execute("RESET lock_timeout")


async def stray_tables(connection: asyncpg.Connection, table: PartitionedTable) -> list[str]:
    """Former partitions of `table` that were detached but not dropped (a process stopped between the
    two statements of `drop_partition`): nothing reads them, they only hold space."""
    rows = await connection.fetch(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition"
        " AND pg_table_is_visible(oid) AND (relname LIKE $1 OR relname = $2)",
        f"{table.name}\\_p%",
        f"{table.name}_before_0010",
    )
    return [row["relname"] for row in rows]


async def drop_stray_table(connection: asyncpg.Connection, name: str) -> None:
    await connection.execute(f"DROP TABLE {name}")


def _literal(moment: datetime) -> str:
    """A partition bound as SQL: bounds cannot be parameters, and an ISO instant has no quote in it."""
    return f"'{moment.astimezone(UTC).isoformat()}'"
