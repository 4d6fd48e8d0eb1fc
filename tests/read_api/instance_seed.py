"""Instances written through the real apply path (events, acks and all), for the read API and console tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from schemas.instance_calls import parse_instance_change
from schemas.instance_envelope import InstanceEnvelope, encode_instance_event
from workers.applier.batch import BatchResult, apply_batch
from workers.applier.records import ConsumedRecord, DeadLetter

T0_MS = 1_767_600_000_000


class _Discarded:
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        pass


async def apply_instance_calls(
    db: asyncpg.Connection, calls: Sequence[tuple[int, dict[str, str]]], first_offset: int = 0
) -> BatchResult:
    """Apply `(signed at, ms after T0; body)` calls as one batch of one partition."""
    records = []
    for position, (after_ms, body) in enumerate(calls):
        envelope = InstanceEnvelope.from_call(parse_instance_change(body), T0_MS + after_ms, datetime.now(UTC))
        record = encode_instance_event(envelope)
        offset = first_offset + position
        records.append(ConsumedRecord("seeded", 0, offset, record.key, record.value, tuple(record.headers)))
    return await apply_batch(db, records, _Discarded())
