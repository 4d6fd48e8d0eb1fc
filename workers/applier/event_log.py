"""The `events` table: one row per distinct event id, the dedupe record of SPEC §4."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import asyncpg

from workers.outcomes import FinishedEvent


async def find_known_events(connection: asyncpg.Connection, event_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Event id -> (partition, offset) of the record it was first applied from."""
    rows = await connection.fetch(
        "SELECT event_id, kafka_partition, kafka_offset FROM events WHERE event_id = ANY($1::text[])", event_ids
    )
    return {row["event_id"]: (row["kafka_partition"], row["kafka_offset"]) for row in rows}


async def record_events(connection: asyncpg.Connection, events: Sequence[FinishedEvent]) -> None:
    if not events:
        return
    await connection.execute(
        "INSERT INTO events (event_id, tenant_id, interface, time_stamp, test_flag, status, reason, accepted_at,"
        " kafka_partition, kafka_offset, call, instance_id)"
        " SELECT e, t, i, ts, tf, s, r, a, p, o, c::jsonb, ii FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::timestamptz[], $5::smallint[], $6::text[], $7::text[], $8::timestamptz[], $9::integer[],"
        " $10::bigint[], $11::text[], $12::text[]) AS x(e, t, i, ts, tf, s, r, a, p, o, c, ii)"
        " ON CONFLICT (event_id) DO NOTHING",
        [event.event_id for event in events],
        [event.tenant_id for event in events],
        [event.interface for event in events],
        [event.time_stamp for event in events],
        [event.test_flag for event in events],
        [event.status.value for event in events],
        [event.reason for event in events],
        [event.accepted_at for event in events],
        [event.partition for event in events],
        [event.offset for event in events],
        [None if event.call is None else json.dumps(event.call, ensure_ascii=False) for event in events],
        [event.instance_id for event in events],
    )


async def record_duplicates(connection: asyncpg.Connection, events: Sequence[FinishedEvent]) -> None:
    counts = Counter(event.event_id for event in events)
    if counts:
        await connection.execute(
            "UPDATE events SET duplicates = duplicates + d.n FROM unnest($1::text[], $2::integer[]) AS d(id, n)"
            " WHERE events.event_id = d.id",
            list(counts),
            list(counts.values()),
        )
