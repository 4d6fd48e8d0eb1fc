"""What the console reads, written by the pipeline's own functions: events applied through
`apply_batch`, dead letters as the worker leaves them after a record failed too often."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from schemas.calls import AnyCall, parse_call
from schemas.envelope import EventEnvelope, encode_event
from workers.acks.outbox import enqueue_acks
from workers.applier.batch import BatchResult, apply_batch, undecodable_event
from workers.applier.dead_letter_archive import store_dead_letters
from workers.applier.event_log import record_events
from workers.applier.records import ConsumedRecord, DeadLetter

TOPIC = "console-tests"
_offsets = itertools.count()


def call(tenant_id: str, interface: str, millisecond: int, **fields: Any) -> AnyCall:
    return parse_call(interface, {"tenantId": tenant_id, "timeStamp": f"20260301120000{millisecond:03d}", **fields})


def record_of(event_call: AnyCall) -> ConsumedRecord:
    """The one record the gateway writes for `event_call`, at a fresh offset of partition 0."""
    [record] = encode_event(EventEnvelope.from_call(event_call, datetime.now(UTC)), 1_000_000)
    return ConsumedRecord(TOPIC, 0, next(_offsets), record.key, record.value, tuple(record.headers))


class _Discarded:
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        pass


async def apply_calls(db: asyncpg.Connection, calls: Sequence[AnyCall]) -> BatchResult:
    return await apply_batch(db, [record_of(item) for item in calls], _Discarded())


async def dead_letter(db: asyncpg.Connection, record: ConsumedRecord, reason: str) -> None:
    """What BatchLoop does once a record failed `max_attempts` times: one transaction of events row,
    ack and dead letter."""
    event = undecodable_event(record, reason)
    async with db.transaction():
        await record_events(db, [event])
        await enqueue_acks(db, [event])
        await store_dead_letters(db, [DeadLetter(event.event_id, event.tenant_id, reason, record)])
