"""The `events` table: one row per distinct event id, the dedupe record of SPEC §4.

`events` is partitioned by `finished_at` (migration 0010), so no unique key on the event id alone
exists: one row per event id is kept here. Every writer looks its events up (`find_known_events`)
under the advisory lock of what they belong to, held until it commits: a sync call's tenant
(`lock_tenants`), an instance call's instance (`lock_instances`, workers/applier/instance_store.py;
every copy of an instance call names the same instance), and writes only the ones not found
(`record_events`). Sync and instance calls are looked up alike; an instance call's `timeStamp` is its
version, the time the platform signed it.

Where to look. A call is produced by the platform at its `timeStamp` and cannot finish here before
that, give or take the clocks: an event's row is looked for only in the partitions from a day
(`CLOCK_MARGIN`) before min(timeStamp, now) on. A fresh call probes today's partition and perhaps
yesterday's, whatever the retention (probing every partition of a month of history costs ~7x more
per batch). A re-sent old call probes from its timeStamp on. An event that finished more than the
margin before its own timeStamp (a sender's clock far ahead) is also listed in `early_events`,
where it is found whatever its timeStamp says. Past the retention horizon nothing is found: the
call applies again, and the version rules make it stale (docs/retention.md).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from workers.outcomes import FinishedEvent

# Covers any skew between the platform's clock and the database's, and a sender that labels UTC as
# UTC+8 (8 hours), many times over.
CLOCK_MARGIN = timedelta(days=1)
# The lower bound of an event whose time is unknown (a timeStamp that does not parse): every partition.
_ANY_TIME = datetime(1, 1, 2, tzinfo=UTC)


def earliest_finish(time_stamp: datetime | None, now: datetime) -> datetime:
    """The earliest `finished_at` the row of an event with this timeStamp can have, looked for at `now`."""
    if time_stamp is None:
        return _ANY_TIME
    return min(time_stamp, now) - CLOCK_MARGIN


async def find_known_events(
    connection: asyncpg.Connection, events: Sequence[tuple[str, datetime | None]], now: datetime
) -> dict[str, tuple[int, int]]:
    """(event id, timeStamp) -> for those recorded, (partition, offset) of the record that finished them.

    One index probe per event in each partition it can be in: the LATERAL … LIMIT 1 keeps the planner
    on a nested loop whose inner side is pruned to those partitions at run time (a hash join would
    read every partition whole).
    """
    ids = [event_id for event_id, _ in events]
    rows = await connection.fetch(
        "SELECT k.id AS event_id, e.kafka_partition, e.kafka_offset"
        " FROM unnest($1::text[], $2::timestamptz[]) AS k(id, since)"
        " CROSS JOIN LATERAL (SELECT kafka_partition, kafka_offset FROM events"
        "  WHERE events.event_id = k.id AND events.finished_at >= k.since LIMIT 1) e"
        " UNION ALL SELECT e.event_id, e.kafka_partition, e.kafka_offset FROM early_events x"
        "  JOIN events e ON e.event_id = x.event_id AND e.finished_at = x.finished_at"
        "  WHERE x.event_id = ANY($1::text[])",
        ids,
        [earliest_finish(time_stamp, now) for _, time_stamp in events],
    )
    return {row["event_id"]: (row["kafka_partition"], row["kafka_offset"]) for row in rows}


async def record_events(
    connection: asyncpg.Connection, events: Sequence[FinishedEvent], finished_at: datetime | None = None
) -> None:
    """Write one row per event, finished at `finished_at` (default: the transaction's `now()`).

    The caller has looked the events up (`find_known_events`) under their tenants' lock and passes
    only those not recorded yet.
    """
    if not events:
        return
    now: datetime = finished_at or await connection.fetchval("SELECT now()")
    await connection.execute(
        "INSERT INTO events (event_id, tenant_id, interface, time_stamp, test_flag, status, reason, accepted_at,"
        " kafka_partition, kafka_offset, call, instance_id, finished_at)"
        " SELECT e, t, i, ts, tf, s, r, a, p, o, c::jsonb, ii, $13 FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::timestamptz[], $5::smallint[], $6::text[], $7::text[], $8::timestamptz[], $9::integer[],"
        " $10::bigint[], $11::text[], $12::text[]) AS x(e, t, i, ts, tf, s, r, a, p, o, c, ii)"
        " ON CONFLICT DO NOTHING",
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
        now,
    )
    early = [event.event_id for event in events if event.time_stamp and now < event.time_stamp - CLOCK_MARGIN]
    if early:
        await connection.execute(
            "INSERT INTO early_events (event_id, finished_at) SELECT unnest($1::text[]), $2"
            " ON CONFLICT (event_id) DO UPDATE SET finished_at = EXCLUDED.finished_at",
            early,
            now,
        )


async def record_duplicates(connection: asyncpg.Connection, events: Sequence[FinishedEvent], now: datetime) -> None:
    """Count re-sent copies on their events' rows (found where `find_known_events` found them)."""
    counts = Counter(event.event_id for event in events)
    if not counts:
        return
    since = {event.event_id: earliest_finish(event.time_stamp, now) for event in events}
    await connection.execute(
        "UPDATE events SET duplicates = duplicates + d.n FROM (SELECT u.id, u.n,"
        "  CASE WHEN EXISTS (SELECT FROM early_events x WHERE x.event_id = u.id) THEN $4 ELSE u.since END AS since"
        "  FROM unnest($1::text[], $2::integer[], $3::timestamptz[]) AS u(id, n, since)) d"
        " WHERE events.event_id = d.id AND events.finished_at >= d.since",
        list(counts),
        list(counts.values()),
        [since[event_id] for event_id in counts],
        _ANY_TIME,
    )
