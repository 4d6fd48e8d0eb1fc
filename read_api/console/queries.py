"""The reads behind the operator console: pipeline overview, tenant search, one event's whole story.

Each runs inside the caller's `snapshot` (read_api/queries.py) and touches indexed rows only:
the overview reads the last minutes of `events` by `finished_at` (index of migration 0004, and only
today's partitions), the rows still owed or waiting through the partial indexes of `ack_outbox` and
`dead_letters`, and the oldest event kept (the first entry of each partition's `finished_at` index).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from workers.acks.outbox import ACK_OF_EVENT_JOIN, ACK_ROWS_PRUNED, outbox_backlog
from workers.replay.dead_letters import DeadLetterSummary, dead_letters_of_event
from workers.retention.horizons import Horizon, oldest_retained_event, read_horizons


@dataclass(frozen=True)
class FinishedSeries:
    """Events that reached their final status in the window, per `bucket_s` bucket (oldest first)."""

    buckets: list[datetime]
    by_interface: dict[str, list[int]]
    by_status: dict[str, int]  # totals over the whole window
    recent_by_interface: dict[str, int]  # in the last `recent_s` seconds
    recent_s: int


@dataclass(frozen=True)
class Backlog:
    acks_pending: int
    acks_retrying: int  # owed, and the last attempt failed
    oldest_ack_pending: datetime | None
    dead_letters_waiting: int
    oldest_dead_letter: datetime | None
    uploads_waiting: int  # large calls whose parts are not all here yet


@dataclass(frozen=True)
class Retention:
    """What history is kept (docs/retention.md): the oldest event still there, the latest prune's horizons."""

    oldest_event: datetime | None
    horizons: dict[str, Horizon]  # by history; empty until a prune ran


@dataclass(frozen=True)
class TenantMatch:
    tenant_id: str
    name: str
    tenant_code: str
    deleted: bool
    has_record: bool  # False: only events or floors name this tenant, its tenantSync never applied


@dataclass(frozen=True)
class AckRow:
    ack_id: int
    status: str | None  # the status this ack reports (an event re-driven from a dead letter owes a second ack)
    result_code: str | None
    created_at: datetime
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class EventDetail:
    event_id: str
    tenant_id: str
    interface: str | None
    status: str
    reason: str | None
    time_stamp: datetime | None
    test_flag: int
    accepted_at: datetime | None
    finished_at: datetime | None
    kafka_partition: int | None
    kafka_offset: int | None
    duplicates: int
    call: Any  # the normalised call as archived (None for a record that never decoded); NOT redacted
    parts_waiting: int = 0
    acks: list[AckRow] = field(default_factory=list)
    acks_pruned: bool = False  # no ack row left: sent, then pruned after the sent-acks retention
    dead_letters: list[DeadLetterSummary] = field(default_factory=list)
    instance_id: str = ""  # an instance call's instance (SPEC §9); its tenant_id is ''


async def database_now(connection: asyncpg.Connection) -> datetime:
    """The database's clock: `finished_at` is written by it, so windows are measured on it."""
    now: datetime = await connection.fetchval("SELECT now()")
    return now


async def fetch_finished_series(
    connection: asyncpg.Connection, now: datetime, *, window_s: int, bucket_s: int, recent_s: int
) -> FinishedSeries:
    first_bucket = int(now.timestamp()) // bucket_s - window_s // bucket_s + 1
    since = datetime.fromtimestamp(first_bucket * bucket_s, tz=now.tzinfo)
    rows = await connection.fetch(
        "SELECT interface, status, floor(extract(epoch FROM finished_at) / $2)::bigint AS bucket, count(*) AS n,"
        " count(*) FILTER (WHERE finished_at > $3) AS recent"
        " FROM events WHERE finished_at >= $1 GROUP BY 1, 2, 3",
        since,
        bucket_s,
        now - timedelta(seconds=recent_s),
    )
    width = window_s // bucket_s
    by_interface: dict[str, list[int]] = defaultdict(lambda: [0] * width)
    by_status: dict[str, int] = defaultdict(int)
    recent: dict[str, int] = defaultdict(int)
    for row in rows:
        index = row["bucket"] - first_bucket
        if 0 <= index < width:  # a row finished after `now` (a commit racing this read) waits for the next one
            by_interface[row["interface"]][index] += row["n"]
            by_status[row["status"]] += row["n"]
            recent[row["interface"]] += row["recent"]
    buckets = [since + timedelta(seconds=bucket_s * index) for index in range(width)]
    return FinishedSeries(buckets, dict(by_interface), dict(by_status), dict(recent), recent_s)


async def fetch_backlog(connection: asyncpg.Connection) -> Backlog:
    acks = await outbox_backlog(connection)
    letters = await connection.fetchrow(
        "SELECT count(*) AS waiting, min(failed_at) AS oldest FROM dead_letters WHERE state = 'dead'"
    )
    uploads = await connection.fetchval("SELECT count(DISTINCT upload_id) FROM event_parts")
    return Backlog(
        acks_pending=acks.owed,
        acks_retrying=acks.retrying,
        oldest_ack_pending=acks.oldest,
        dead_letters_waiting=letters["waiting"],
        oldest_dead_letter=letters["oldest"],
        uploads_waiting=uploads,
    )


async def fetch_retention(connection: asyncpg.Connection) -> Retention:
    return Retention(await oldest_retained_event(connection), await read_horizons(connection))


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE, the pattern characters of `text` matched literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_tenants(connection: asyncpg.Connection, text: str, *, limit: int) -> list[TenantMatch]:
    """Tenants whose id, name or code contains `text` (any case), by id; an id known only from its
    events (no tenantSync applied yet, no floor) is found when given whole."""
    rows = await connection.fetch(
        "SELECT tenant_id, name, tenant_code, deleted, version IS NOT NULL AS has_record FROM tenants"
        " WHERE tenant_id ILIKE $1 OR name ILIKE $1 OR tenant_code ILIKE $1 ORDER BY tenant_id LIMIT $2",
        like_pattern(text),
        limit,
    )
    matches = [TenantMatch(**dict(row)) for row in rows]
    if text and len(matches) < limit and all(match.tenant_id != text for match in matches):
        known = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM events WHERE tenant_id = $1)", text)
        if known:
            matches.insert(0, TenantMatch(text, "", "", deleted=False, has_record=False))
    return matches


async def fetch_event_detail(connection: asyncpg.Connection, event_id: str) -> EventDetail | None:
    """The event's row with its archived call, every ack it owes or owed and its dead letters; an
    event still being assembled from parts is `accepted`; None if the pipeline never saw it."""
    row = await connection.fetchrow(
        "SELECT e.tenant_id, e.interface, e.status, e.reason, e.time_stamp, e.test_flag, e.accepted_at,"
        " e.finished_at, e.kafka_partition, e.kafka_offset, e.duplicates, e.call::text AS call, e.instance_id,"
        f" {ACK_ROWS_PRUNED} AS acks_pruned FROM events e" + ACK_OF_EVENT_JOIN + " WHERE e.event_id = $1",
        event_id,
    )
    parts = await connection.fetchrow(
        "SELECT tenant_id, count(*) AS n FROM event_parts WHERE event_id = $1 GROUP BY tenant_id LIMIT 1", event_id
    )
    if row is None and parts is None:
        return None
    acks = [
        AckRow(**dict(ack))
        for ack in await connection.fetch(
            "SELECT ack_id, body->>'status' AS status, body->>'resultCode' AS result_code, created_at, attempts,"
            " last_error, next_attempt_at, sent_at FROM ack_outbox WHERE event_id = $1 ORDER BY ack_id",
            event_id,
        )
    ]
    letters = await dead_letters_of_event(connection, event_id)
    waiting = parts["n"] if parts is not None else 0
    if row is None:
        assert parts is not None
        return EventDetail(
            event_id, parts["tenant_id"], None, "accepted", None, None, 0, None, None, None, None, 0, None, waiting
        )
    call = json.loads(row["call"]) if row["call"] is not None else None
    return EventDetail(
        event_id=event_id,
        tenant_id=row["tenant_id"],
        interface=row["interface"],
        status=row["status"],
        reason=row["reason"],
        time_stamp=row["time_stamp"],
        test_flag=row["test_flag"],
        accepted_at=row["accepted_at"],
        finished_at=row["finished_at"],
        kafka_partition=row["kafka_partition"],
        kafka_offset=row["kafka_offset"],
        duplicates=row["duplicates"],
        call=call,
        parts_waiting=waiting,
        acks=acks,
        acks_pruned=bool(row["acks_pruned"]),
        dead_letters=letters,
        instance_id=row["instance_id"],
    )
