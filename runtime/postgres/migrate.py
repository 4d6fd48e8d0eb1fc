"""Versioned migrations: `migrations/NNNN_name.sql`, applied in order, each once, in a transaction.

Several processes may start at once (workers, API); an advisory lock makes them take turns, and
whoever comes second finds nothing left to do. Then the time-partitioned tables get the partitions of
the next unit (runtime/postgres/partitions.py): a process that starts can write at once.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import NamedTuple

import asyncpg

from runtime.postgres.partitions import ensure_all_partitions

log = logging.getLogger(__name__)

_MIGRATION_FILE = re.compile(r"(\d{4})_(\w+)\.sql")
_LOCK_KEY = 0x73796E63  # "sync": one key per database for "migrations in progress"


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("runtime.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(found)


async def migrate(connection: asyncpg.Connection) -> list[Migration]:
    """Apply what is missing; return what was applied. Fails loudly if the database is newer."""
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        known = available_migrations()
        unknown = done - {migration.version for migration in known}
        if unknown:
            raise RuntimeError(f"database has migrations this code does not know: {sorted(unknown)}")
        applied = []
        for migration in known:
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration)
        try:
            await ensure_all_partitions(connection, ahead=False)
        except asyncpg.LockNotAvailableError as exc:
            # Another process's DDL on the table; partitions are made days ahead and the workers retry.
            log.warning("partitions not created ahead this time: %s", exc)
        return applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def migrate_url(database_url: str, *, partitions_ahead: bool = False) -> list[Migration]:
    """`migrate` on a connection of its own; `partitions_ahead`: then create every partition of the
    partitioned tables' lead too (`syncpipe migrate`), not only the next unit's."""
    connection = await asyncpg.connect(database_url)
    try:
        applied = await migrate(connection)
        if partitions_ahead:
            await ensure_all_partitions(connection)
        return applied
    finally:
        await connection.close()
