"""Histories, seeding through the apply path, damage and table dumps for the recovery tools' tests."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas.calls import AnyCall, parse_call
from schemas.envelope import EventEnvelope, encode_event
from syncpipe.simulation.generator import WorkloadSizes, generate_history, tenant_ids
from workers.applier.batch import apply_batch
from workers.applier.records import ConsumedRecord, DeadLetter

# Small enough that full syncs travel in parts (the record limit is 1024 bytes in these tests),
# big enough that every kind of change happens.
SIZES = WorkloadSizes(departments_per_tenant=20, users_per_tenant=8, changes_per_tenant=15)
SMALL_RECORDS = 1024
# Every table the pipeline writes: "changes nothing" is checked over all of them.
ALL_TABLES = (
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


def simulated_calls(seed: int, tenants: int) -> tuple[list[str], list[AnyCall]]:
    """The simulator's histories (realistic, with deletes, floors, test probes and sender quirks)."""
    calls = [parse_call(call.interface, call.body) for call in generate_history(seed, tenants, SIZES)]
    return tenant_ids(seed, tenants, SIZES), calls


def shuffled_with_duplicates(calls: Sequence[AnyCall], seed: int) -> list[AnyCall]:
    rng = random.Random(seed)
    delivered = [*calls, *rng.sample(list(calls), len(calls) // 5)]
    rng.shuffle(delivered)
    return delivered


def as_records(calls: Sequence[AnyCall], topic: str = "seeded", first_offset: int = 0) -> list[ConsumedRecord]:
    """The records the gateway would write for `calls` (parts included), as one partition."""
    records = []
    for call in calls:
        envelope = EventEnvelope.from_call(call, datetime.now(UTC))
        for record in encode_event(envelope, SMALL_RECORDS):
            offset = first_offset + len(records)
            records.append(ConsumedRecord(topic, 0, offset, record.key, record.value, tuple(record.headers)))
    return records


class DiscardedLetters:
    """A dead-letter sink for tests that only look at Postgres."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        self.letters += letters


async def apply_records(connection: asyncpg.Connection, records: Sequence[ConsumedRecord], batch: int = 40) -> None:
    """Through `apply_batch`, in batches, as a worker would (parts may straddle batches)."""
    for start in range(0, len(records), batch):
        await apply_batch(connection, records[start : start + batch], DiscardedLetters())


async def dump_tables(connection: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of every table, comparable: a dry run must leave this identical."""
    dump = {}
    for table in ALL_TABLES:
        rows = await connection.fetch(f"SELECT * FROM {table}")
        dump[table] = sorted(repr(tuple(row.values())) for row in rows)
    return dump


async def damage_tenant(connection: asyncpg.Connection, tenant_id: str) -> dict[str, Any]:
    """What a bad deploy might do: rows lost, rows altered, rows invented. Returns what was done."""
    lost = await connection.fetch(
        "DELETE FROM departments WHERE ctid IN (SELECT ctid FROM departments WHERE tenant_id = $1"
        " ORDER BY org_code LIMIT 3) RETURNING org_code",
        tenant_id,
    )
    altered = await connection.execute(
        "UPDATE users SET data = jsonb_set(data, '{name}', '\"corrupted\"') WHERE user_name IN"
        " (SELECT user_name FROM users WHERE tenant_id = $1 AND NOT deleted ORDER BY user_name LIMIT 2)"
        " AND tenant_id = $1",
        tenant_id,
    )
    await connection.execute(
        "INSERT INTO departments (tenant_id, org_code, version, deleted, org_name, parent_code)"
        " VALUES ($1, 'INVENTED', now(), false, 'not from any call', '')",
        tenant_id,
    )
    await connection.execute("DELETE FROM authorizations WHERE tenant_id = $1", tenant_id)
    await connection.execute("UPDATE tenants SET name = 'wrong name' WHERE tenant_id = $1", tenant_id)
    return {"departments_lost": len(lost), "users_altered": int(altered.split()[-1])}
