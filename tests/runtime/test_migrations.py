"""Migrating a database of the previous schema (0009) keeps every row: 0010 partitions `events` and
`ack_outbox` by attaching the tables as they were, and what was there stays readable and deduped; a
database so upgraded has the same schema as one migrated from nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from runtime.postgres.migrate import available_migrations, migrate_url
from runtime.postgres.partitions import ACK_OUTBOX, EVENTS, list_partitions
from syncpipe.embedded.databases import scratch_database
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
    "instances",
)
# The newest migration before retention's (0010), as main was when retention was merged.
_BEFORE_RETENTION = 9
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
    """Rows of every table over a year, as a 0009 database of a year's traffic holds them: sync calls,
    an instance's calls (no tenant, migration 0006) and acks with a trace context (0009)."""
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
    opening = {"activity": "newInstance", "orderId": "CS-MIG", "orderLineId": "line-1", "testFlag": "0"}
    await connection.execute(
        "INSERT INTO events (event_id, tenant_id, instance_id, interface, time_stamp, status, accepted_at,"
        " finished_at, kafka_partition, kafka_offset, call)"
        " VALUES ('e-instance', '', 'i-mig', 'newInstance', $1, 'applied', $1, $1, 1, 1, $2::jsonb)",
        _FIRST,
        json.dumps(opening),
    )
    await connection.execute(
        "INSERT INTO ack_outbox (event_id, kafka_partition, kafka_offset, body, created_at, next_attempt_at,"
        " attempts, sent_at, outcome, trace_parent) VALUES ('e-instance', 1, 1, '{}', $1, $1, 1, $1, 'applied',"
        " '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')",
        _FIRST,
    )
    await connection.execute(
        "INSERT INTO instances (instance_id, changes, status, order_id, order_line_id, orders, expire_time, scene,"
        " product_id, frozen, version) VALUES ('i-mig', '[]', 'provisioning', 'CS-MIG', 'line-1', '[]', '', '',"
        " '', false, $1)",
        _FIRST,
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


async def test_migrating_a_0009_database_keeps_every_row_and_what_it_meant(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await migrate_to(connection, _BEFORE_RETENTION)
        await seed_a_year(connection)
        before = await dump(connection)
        last_ack_id = await connection.fetchval("SELECT max(ack_id) FROM ack_outbox")
        foldable = await connection.fetchval(
            "SELECT count(*) FROM events WHERE status IN ('applied', 'stale') AND tenant_id <> ''"
        )

        applied = await migrate_url(database_url)

        assert [migration.version for migration in applied] == [10]
        assert await dump(connection) == before
        assert sum(len(rows) for rows in before.values()) > 100
        events = await list_partitions(connection, EVENTS)
        assert events[0].name == "events_before_0010"
        assert events[0].lower is None  # every row of before, whatever its age
        acks = await list_partitions(connection, ACK_OUTBOX)
        assert acks[0].name == "ack_outbox_before_0010"
        # What the rows meant still holds: an old event is still recognised, new acks come after old ones.
        assert await find_known_events(connection, [("e0007", _FIRST)], datetime.now(UTC)) == {"e0007": (0, 7)}
        assert await find_known_events(connection, [("e-instance", _FIRST)], datetime.now(UTC)) == {
            "e-instance": (1, 1)
        }
        await enqueue_acks(connection, [_finished("e-new")])
        assert await connection.fetchval("SELECT ack_id FROM ack_outbox WHERE event_id = 'e-new'") == last_ack_id + 1

        # The table as it was is one partition: it goes whole once the horizon passes its end, its
        # events folded first; the hours of acks that still owe one stay.
        later: datetime = await connection.fetchval("SELECT now() + interval '60 days'")
        await connection.execute("UPDATE ack_outbox SET sent_at = now() WHERE event_id = 'e-new'")
        policy = RetentionPolicy(events=timedelta(days=30), sent_acks=timedelta(hours=1), dead_letters=timedelta(30))
        run = await run_retention(connection, policy, later)
        assert run is not None
        assert "events_before_0010" in run.prune.events_partitions_dropped
        assert run.prune.ack_partitions_held == ["ack_outbox_before_0010"]
        assert await dump(connection) != before
        assert await connection.fetchval("SELECT sum(events_folded) FROM tenant_checkpoints") == foldable > 0
        folded = "SELECT events_folded FROM instance_checkpoints WHERE instance_id = 'i-mig'"
        assert await connection.fetchval(folded) == 1
    finally:
        await connection.close()


async def schema(connection: asyncpg.Connection) -> dict[str, list[str]]:
    """The schema of every table but the partitions (their names are their days): columns, keys,
    constraints, indexes and partition keys."""
    tables = "SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"
    tables += " AND NOT relispartition"
    columns = await connection.fetch(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attidentity,"
        " pg_get_expr(d.adbin, d.adrelid) AS default FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        f" WHERE c.oid IN ({tables}) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
    )
    constraints = await connection.fetch(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) AS def FROM pg_constraint k"
        f" JOIN pg_class c ON c.oid = k.conrelid WHERE c.oid IN ({tables})"
    )
    indexes = await connection.fetch(
        "SELECT c.relname, i.relname AS index, pg_get_indexdef(i.oid) AS def FROM pg_index x"
        f" JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid WHERE c.oid IN ({tables})"
    )
    partitioned = await connection.fetch(
        "SELECT c.relname, pg_get_partkeydef(c.oid) AS key FROM pg_class c"
        f" WHERE c.oid IN ({tables}) AND c.relkind = 'p'"
    )
    return {
        "columns": [repr(tuple(row.values())) for row in columns],
        "constraints": sorted(repr(tuple(row.values())) for row in constraints),
        "indexes": sorted(repr(tuple(row.values())) for row in indexes),
        "partitioned": sorted(repr(tuple(row.values())) for row in partitioned),
        "migrations": [
            repr((row["version"], row["name"]))
            for row in await connection.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        ],
    }


async def test_an_upgraded_database_and_a_fresh_one_have_the_same_schema(
    database_url: str, postgres_server_dsn: str
) -> None:
    upgraded = await asyncpg.connect(database_url)
    try:
        await migrate_to(upgraded, _BEFORE_RETENTION)
        await seed_a_year(upgraded)
        await migrate_url(database_url)
        upgraded_schema = await schema(upgraded)
    finally:
        await upgraded.close()
    async with scratch_database(postgres_server_dsn, "fresh") as fresh_url:
        await migrate_url(fresh_url)
        fresh = await asyncpg.connect(fresh_url)
        try:
            fresh_schema = await schema(fresh)
        finally:
            await fresh.close()

    assert upgraded_schema == fresh_schema
    assert any("PRIMARY KEY (event_id, finished_at)" in row for row in fresh_schema["constraints"])
    assert any("trace_parent" in row and "ack_outbox" in row for row in fresh_schema["columns"])
    assert any("events_instance_time" in row and "'events'" in row for row in fresh_schema["indexes"])


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
