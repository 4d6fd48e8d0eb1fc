"""Small fakes of the gateway's publisher port."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.envelope import EnvelopePart, EventEnvelope, KafkaRecord, assemble, decode_record


class RecordingPublisher:
    """Stores the event of every call it is given, read back from its records as a consumer reads
    them (parts assembled); `failure` (if set) is raised instead."""

    def __init__(self) -> None:
        self.published: list[EventEnvelope] = []
        self.records: list[KafkaRecord] = []
        self.failure: BaseException | None = None
        self.reachable = True

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        if self.failure is not None:
            raise self.failure
        self.records += records
        decoded = [decode_record(record.key, record.value, record.headers) for record in records]
        if len(decoded) == 1 and isinstance(decoded[0], EventEnvelope):
            self.published.append(decoded[0])
        else:
            parts = [part for part in decoded if isinstance(part, EnvelopePart)]
            assert len(parts) == len(decoded), "an event is one whole record or only parts"
            self.published.append(assemble(parts))

    async def is_reachable(self) -> bool:
        return self.reachable
