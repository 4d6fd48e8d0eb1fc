"""`syncpipe migrate` and `syncpipe retention` as an operator or a cron job runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def syncpipe(database_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": database_url, "SYNCPIPE_RETENTION_EVENTS_DAYS": "3"}
    return subprocess.run(
        [sys.executable, "-m", "syncpipe", *argv],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrate_makes_a_week_of_partitions_and_retention_reports_what_it_would_and_did_do(
    database_url: str,
) -> None:
    migrated = syncpipe(database_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    connection = await asyncpg.connect(database_url)
    try:
        days_ahead = await connection.fetchval("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
        assert days_ahead >= 8  # the table as it was, then today's and a week's days
        await connection.execute(
            "INSERT INTO event_parts VALUES ('gone', 0, 2, 'e', 't', 'x', now() - interval '2 days')"
        )

        dry = syncpipe(database_url, "retention", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        planned = json.loads(dry.stdout)
        assert (planned["dryRun"], planned["uploadPartsDeleted"]) == (True, 1)
        assert await connection.fetchval("SELECT count(*) FROM event_parts") == 1
        assert await connection.fetchval("SELECT count(*) FROM retention_horizons") == 0

        done = syncpipe(database_url, "retention")
        assert done.returncode == 0, done.stderr
        assert "abandoned upload parts  1" in done.stdout
        assert await connection.fetchval("SELECT count(*) FROM event_parts") == 0
        kept = await connection.fetchval("SELECT kept FROM retention_horizons WHERE history = 'events'")
        assert kept.days == 3  # SYNCPIPE_RETENTION_EVENTS_DAYS
    finally:
        await connection.close()
