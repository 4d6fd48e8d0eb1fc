"""A tenant's event history: what the pipeline did with each of its calls, and whether it was acked.

One row per event (the `events` table), with its dead letter if it has one and its ack from the
`ack_outbox`. The outbox is looked up only if the table exists, so this works on a database migrated
before acks existed; the ack state then reads `unknown`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.instance_calls import CHANGES
from schemas.timestamps import format_platform_time
from workers.acks.outbox import ACK_OF_EVENT_JOIN, ACK_ROWS_PRUNED


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime  # when the gateway accepted the call (when it finished, if that is unknown)
    time_stamp: datetime | None  # the platform's version of the change
    interface: str
    event_id: str
    status: str
    reason: str | None
    duplicates: int
    dead_letter_id: int | None
    dead_letter_state: str | None
    ack: str  # sent, pending, none (no ack row), unknown (no outbox in this database)
    ack_attempts: int | None  # None: unknown, or sent and its outbox row since pruned
    ack_error: str | None

    def to_json(self) -> dict[str, Any]:
        """One line of a tenant's event timeline; `timeStamp` in the platform's format, as the call carried it."""
        return {
            "eventId": self.event_id,
            "interface": self.interface,
            "timeStamp": format_platform_time(self.time_stamp) if self.time_stamp else None,
            "at": self.at.isoformat(),
            "status": self.status,
            "reason": self.reason,
            "duplicates": self.duplicates,
            "ack": {"state": self.ack, "attempts": self.ack_attempts, "lastError": self.ack_error},
            "deadLetter": {"id": self.dead_letter_id, "state": self.dead_letter_state} if self.dead_letter_id else None,
        }


@dataclass(frozen=True)
class TenantHistory:
    tenant_id: str
    entries: list[HistoryEntry]  # oldest first
    more: bool  # older entries exist beyond the limit
    uploads_waiting: int  # large calls accepted in parts, not all parts applied yet

    def to_json(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "events": [entry.to_json() for entry in self.entries],
            "more": self.more,
            "uploadsWaiting": self.uploads_waiting,
        }


# A database migrated before the outbox existed (migration 0002) has no acks to show.
_NO_ACK_JOIN = (
    " LEFT JOIN LATERAL (SELECT NULL::bigint AS ack_id, NULL::timestamptz AS sent_at, NULL::integer AS attempts,"
    " NULL::text AS last_error) a ON true"
)
_NO_ACK_PRUNED = "false"


async def tenant_history(
    connection: asyncpg.Connection,
    tenant_id: str,
    *,
    since: datetime | None,
    limit: int,
    statuses: Sequence[str] = (),
) -> TenantHistory:
    """The newest `limit` events of the tenant at or after `since` (in `statuses` if given), oldest first.

    An event's time is when the gateway accepted it, or when it finished if that is unknown (a record
    dead-lettered unread)."""
    entries, more = await _history(
        connection, "e.tenant_id = $4", [tenant_id], since=since, limit=limit, statuses=statuses
    )
    waiting = await connection.fetchval(
        "SELECT count(DISTINCT upload_id) FROM event_parts WHERE tenant_id = $1", tenant_id
    )
    return TenantHistory(tenant_id, entries, more, waiting)


async def instance_history(
    connection: asyncpg.Connection,
    instance_id: str,
    *,
    since: datetime | None,
    limit: int,
    statuses: Sequence[str] = (),
) -> tuple[list[HistoryEntry], bool]:
    """The newest `limit` instance calls (SPEC §9) of the instance, oldest first, and whether older ones exist."""
    subject = "e.instance_id = $4 AND e.interface = ANY($5::text[])"
    return await _history(
        connection, subject, [instance_id, sorted(CHANGES)], since=since, limit=limit, statuses=statuses
    )


async def _history(
    connection: asyncpg.Connection,
    subject: str,
    subject_args: list[object],
    *,
    since: datetime | None,
    limit: int,
    statuses: Sequence[str],
) -> tuple[list[HistoryEntry], bool]:
    """Events matching `subject` (SQL on `e`, its parameters from $4 on), newest `limit`, oldest first."""
    has_outbox = await connection.fetchval("SELECT to_regclass('ack_outbox') IS NOT NULL")
    rows = await connection.fetch(
        "SELECT coalesce(e.accepted_at, e.finished_at) AS at, e.time_stamp, e.interface, e.event_id, e.status,"
        " e.reason, e.duplicates, d.dead_letter_id, d.state AS dead_letter_state,"
        " a.ack_id, a.sent_at IS NOT NULL AS ack_sent, a.attempts AS ack_attempts, a.last_error AS ack_error,"
        f" {ACK_ROWS_PRUNED if has_outbox else _NO_ACK_PRUNED} AS ack_pruned"
        " FROM events e"
        " LEFT JOIN LATERAL (SELECT dead_letter_id, state FROM dead_letters"
        "  WHERE dead_letters.event_id = e.event_id ORDER BY dead_letter_id DESC LIMIT 1) d ON true"
        + (ACK_OF_EVENT_JOIN if has_outbox else _NO_ACK_JOIN)
        + f" WHERE {subject} AND ($1::timestamptz IS NULL OR coalesce(e.accepted_at, e.finished_at) >= $1)"
        " AND (cardinality($3::text[]) = 0 OR e.status = ANY($3::text[]))"
        " ORDER BY at DESC, e.event_id DESC LIMIT $2",
        since,
        limit + 1,
        list(statuses),
        *subject_args,
    )
    entries = [_entry(row, has_outbox) for row in rows[:limit]]
    return entries[::-1], len(rows) > limit


def _entry(row: asyncpg.Record, has_outbox: bool) -> HistoryEntry:
    if not has_outbox:
        ack = "unknown"
    elif row["ack_id"] is None:
        ack = "sent" if row["ack_pruned"] else "none"
    else:
        ack = "sent" if row["ack_sent"] else "pending"
    return HistoryEntry(
        at=row["at"],
        time_stamp=row["time_stamp"],
        interface=row["interface"],
        event_id=row["event_id"],
        status=row["status"],
        reason=row["reason"],
        duplicates=row["duplicates"],
        dead_letter_id=row["dead_letter_id"],
        dead_letter_state=row["dead_letter_state"],
        ack=ack,
        ack_attempts=row["ack_attempts"],
        ack_error=row["ack_error"],
    )
