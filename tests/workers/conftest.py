"""The workers' tests call the root conftest's `db` connection `connection`."""

from __future__ import annotations

import asyncpg
import pytest


@pytest.fixture
def connection(db: asyncpg.Connection) -> asyncpg.Connection:
    """The test's migrated database (the root conftest's `db`)."""
    return db
