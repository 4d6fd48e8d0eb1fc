"""Databases of their own on one Postgres server: one per test, per benchmark pipeline, per run."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg


async def create_database(server_dsn: str, prefix: str) -> str:
    """A new, empty database `<prefix>_<random>` on the server `server_dsn` connects to; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{server_dsn.rpartition('/')[0]}/{name}"


async def drop_database(server_dsn: str, database_url: str) -> None:
    """Drop the database of `database_url`, closing whatever is still connected to it."""
    name = database_url.rpartition("/")[2]
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def scratch_database(server_dsn: str, prefix: str) -> AsyncIterator[str]:
    """`create_database` for the block, dropped after it."""
    database_url = await create_database(server_dsn, prefix)
    try:
        yield database_url
    finally:
        await drop_database(server_dsn, database_url)
