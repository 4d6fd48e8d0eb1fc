"""A migrated database of its own per test, and a connection to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from syncpipe.postgres.migrate import migrate_url


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await migrate_url(database_url)
    return database_url


@pytest.fixture
async def connection(migrated_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(migrated_url)
    try:
        yield connection
    finally:
        await connection.close()
