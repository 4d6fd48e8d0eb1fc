"""Finished events as the applier reports them, and their rows, for tests that start at the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import count

import asyncpg

from workers.acks.outbox import enqueue_acks
from workers.applier.event_log import find_known_events, record_events
from workers.outcomes import EventStatus, FinishedEvent

_offsets = count()


def finished(
    status: EventStatus = EventStatus.APPLIED,
    *,
    event_id: str | None = None,
    reason: str | None = None,
    offset: int | None = None,
) -> FinishedEvent:
    return FinishedEvent(
        event_id=event_id or uuid.uuid4().hex,
        tenant_id="t-acks",
        instance_id="inst-1",
        interface="singleOrgSync",
        status=status,
        reason=reason,
        time_stamp=datetime(2026, 1, 1, tzinfo=UTC),
        test_flag=0,
        accepted_at=datetime.now(UTC),
        partition=0,
        offset=next(_offsets) if offset is None else offset,
        call=None,
    )


async def commit_finished(connection: asyncpg.Connection, events: Sequence[FinishedEvent]) -> None:
    """What `apply_batch` commits for `events`: the `events` rows of those not recorded yet (a re-sent
    copy has none of its own) and their acks, in one transaction."""
    async with connection.transaction():
        now: datetime = await connection.fetchval("SELECT now()")
        own = [event for event in events if event.status is not EventStatus.DUPLICATE]
        known = await find_known_events(connection, [(event.event_id, event.time_stamp) for event in own], now)
        await record_events(connection, [event for event in own if event.event_id not in known], now)
        await enqueue_acks(connection, events, now)
