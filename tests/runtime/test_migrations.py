"""Migrating a database of the previous schema (0005) keeps every row: 0007 partitions `events` and
`ack_outbox` by attaching the tables as they were, and what was there stays readable and deduped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from runtime.postgres.migrate import available_migrations, migrate_url
from runtime.postgres.partitions import ACK_OUTBOX, EVENTS, list_partitions
from workers.acks.outbox import enqueue_acks
from workers.applier.event_log import find_known_events
from workers.outcomes import EventStatus, FinishedEvent
from workers.retention.maintenance import run_retention
from workers.retention.prune import RetentionPolicy

pytestmark = pytest.mark.integration

TABLES = (
    "tenants",
    "departments",
    "users",
    "authorizations",
    "applications",
    "events",
    "event_parts",
    "dead_letters",
    "ack_outbox",
)
_FIRST = datetime(2025, 6, 1, tzinfo=UTC)


async def migrate_to(connection: asyncpg.Connection, last: int) -> None:
    """The schema as `migrate()` left it when `last` was the newest migration."""
    await connection.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in available_migrations():
        if migration.version <= last:
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
            )


async def seed_a_year(connection: asyncpg.Connection) -> None:
    """Rows of every table over a year, as a 0005 database of a year's traffic holds them."""
    for day in range(0, 365, 7):
        finished = _FIRST + timedelta(days=day, hours=day % 24)
        tenant = f"t-mig-{day % 3}"
        event_id = f"e{day:04d}"
        call = {"tenantId": tenant, "timeStamp": "20250601000000000", "flag": 1, "orgCode": f"D{day}", "orgName": "x"}
        status = ("applied", "stale", "dead_lettered", "test")[day % 4]
        await connection.execute(
            "INSERT INTO events (event_id, tenant_id, interface, time_stamp, status, reason, accepted_at, finished_at,"
            " kafka_partition, kafka_offset, duplicates, call)"
            " VALUES ($1, $2, 'singleOrgSync', $3, $4, NULL, $3, $3, 0, $5, $6, $7::jsonb)",
            event_id,
            tenant,
            finished,
            status,
            day,
            day % 2,
            json.dumps(call),
        )
        await connection.execute(
            "INSERT INTO ack_outbox (event_id, kafka_partition, kafka_offset, body, created_at, next_attempt_at,"
            " attempts, sent_at, outcome) VALUES ($1, 0, $2, $3::jsonb, $4, $4, 1, $5, $6)",
            event_id,
            day,
            json.dumps({"eventId": event_id, "status": status}),
            finished,
            None if day > 350 else finished + timedelta(seconds=1),  # the newest still owed
            status,
        )
        await connection.execute(
            "INSERT INTO departments VALUES ($1, $2, $3, false, 'x', '') ON CONFLICT DO NOTHING",
            tenant,
            f"D{day}",
            finished,
        )
    await connection.execute(
        "INSERT INTO tenants (tenant_id, version, name, tenant_floor) VALUES ('t-mig-0', $1, 'Acme', $1)", _FIRST
    )
    await connection.execute(
        "INSERT INTO users VALUES ('t-mig-0', 'zs', $1, false, '{\"name\": \"张三\"}', $1)", _FIRST
    )
    await connection.execute("INSERT INTO authorizations VALUES ('t-mig-0', 'zs', 'app1', $1, true)", _FIRST)
    await connection.execute("INSERT INTO applications VALUES ('t-mig-0', 'app1', $1, false, 'c', 's', 'i')", _FIRST)
    await connection.execute(
        "INSERT INTO event_parts VALUES ('u1', 0, 2, 'e-upload', 't-mig-1', '\\x00ff', $1)", _FIRST
    )
    await connection.execute(
        "INSERT INTO dead_letters (event_id, tenant_id, interface, reason, source_topic, source_partition,"
        " source_offset, record_key, record_value, headers) VALUES ('e0014', 't-mig-2', 'singleOrgSync', 'bad',"
        " 'events', 0, 14, 'k', 'v', '[]')"
    )


async def dump(connection: asyncpg.Connection) -> dict[str, list[str]]:
    dumped = {}
    for table in TABLES:
        rows = await connection.fetch(f"SELECT * FROM {table}")
        dumped[table] = sorted(repr(sorted(dict(row).items())) for row in rows)
    return dumped


async def test_migrating_a_0005_database_keeps_every_row_and_what_it_meant(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await migrate_to(connection, 5)
        await seed_a_year(connection)
        before = await dump(connection)
        last_ack_id = await connection.fetchval("SELECT max(ack_id) FROM ack_outbox")
        foldable = await connection.fetchval("SELECT count(*) FROM events WHERE status IN ('applied', 'stale')")

        applied = await migrate_url(database_url)

        assert [migration.version for migration in applied] == [7]
        assert await dump(connection) == before
        assert sum(len(rows) for rows in before.values()) > 100
        events = await list_partitions(connection, EVENTS)
        assert events[0].name == "events_before_0007"
        assert events[0].lower is None  # every row of before, whatever its age
        acks = await list_partitions(connection, ACK_OUTBOX)
        assert acks[0].name == "ack_outbox_before_0007"
        # What the rows meant still holds: an old event is still recognised, new acks come after old ones.
        assert await find_known_events(connection, [("e0007", _FIRST)], datetime.now(UTC)) == {"e0007": (0, 7)}
        await enqueue_acks(connection, [_finished("e-new")])
        assert await connection.fetchval("SELECT ack_id FROM ack_outbox WHERE event_id = 'e-new'") == last_ack_id + 1

        # The table as it was is one partition: it goes whole once the horizon passes its end, its
        # events folded first; the hours of acks that still owe one stay.
        later: datetime = await connection.fetchval("SELECT now() + interval '60 days'")
        await connection.execute("UPDATE ack_outbox SET sent_at = now() WHERE event_id = 'e-new'")
        policy = RetentionPolicy(events=timedelta(days=30), sent_acks=timedelta(hours=1), dead_letters=timedelta(30))
        run = await run_retention(connection, policy, later)
        assert run is not None
        assert "events_before_0007" in run.prune.events_partitions_dropped
        assert run.prune.ack_partitions_held == ["ack_outbox_before_0007"]
        assert await dump(connection) != before
        assert await connection.fetchval("SELECT sum(events_folded) FROM tenant_checkpoints") == foldable > 0
    finally:
        await connection.close()


def _finished(event_id: str) -> FinishedEvent:
    return FinishedEvent(
        event_id=event_id,
        tenant_id="t-mig-0",
        instance_id="",
        interface="singleOrgSync",
        status=EventStatus.APPLIED,
        reason=None,
        time_stamp=None,
        test_flag=0,
        accepted_at=None,
        partition=1,
        offset=1,
        call=None,
    )
