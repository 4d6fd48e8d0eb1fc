"""What the applier consumes and what it reports, independent of the Kafka client."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from schemas.envelope import EventEnvelope


class ConsumedRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def synthetic_event_id(self) -> str:
        """For a record with no readable event id: stable across redeliveries of the same record."""
        where = f"{self.topic}:{self.partition}:{self.offset}".encode()
        return "undecodable-" + hashlib.sha256(where).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event_id: str
    tenant_id: str
    reason: str
    record: ConsumedRecord
    # The event `record` carries, when it decoded; for the last part of an upload, the whole envelope
    # the upload assembled into (the dead letter keeps it in the part's place: the other parts are gone).
    envelope: EventEnvelope | None = None


class DeadLetterSink(Protocol):
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Durably store the letters (e.g. on the dead-letter topic); raise if that failed."""
