"""Small fakes of the gateway's ports: the publisher, the instance directory."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.instance_directory import InstanceEntry
from schemas.envelope import EnvelopePart, EventEnvelope, KafkaRecord, assemble, decode_record
from schemas.instance_envelope import InstanceEnvelope, decode_instance_record, is_instance_record


class RecordingPublisher:
    """Stores the event of every call it is given, read back from its records as a consumer reads
    them (parts assembled); `failure` (if set) is raised instead."""

    def __init__(self) -> None:
        self.published: list[EventEnvelope | InstanceEnvelope] = []
        self.records: list[KafkaRecord] = []
        self.failure: BaseException | None = None
        self.reachable = True

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        if self.failure is not None:
            raise self.failure
        self.records += records
        if len(records) == 1 and is_instance_record(records[0].headers):
            self.published.append(decode_instance_record(records[0].value))
            return
        decoded = [decode_record(record.key, record.value, record.headers) for record in records]
        if len(decoded) == 1 and isinstance(decoded[0], EventEnvelope):
            self.published.append(decoded[0])
        else:
            parts = [part for part in decoded if isinstance(part, EnvelopePart)]
            assert len(parts) == len(decoded), "an event is one whole record or only parts"
            self.published.append(assemble(parts))

    async def is_reachable(self) -> bool:
        return self.reachable


class FakeInstanceDirectory:
    """Instances by id, as a test sets them; `failure` (if set) is raised instead of answering."""

    def __init__(self) -> None:
        self.entries: dict[str, InstanceEntry] = {}
        self.failure: BaseException | None = None
        self.lookups: list[list[str]] = []

    async def lookup(self, instance_ids: Sequence[str]) -> dict[str, InstanceEntry]:
        self.lookups.append(list(instance_ids))
        if self.failure is not None:
            raise self.failure
        return {instance_id: self.entries[instance_id] for instance_id in instance_ids if instance_id in self.entries}
