"""Small fakes of the gateway's ports: the publisher, the instance directory."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.instance_directory import InstanceEntry
from schemas.envelope import EventEnvelope
from schemas.instance_envelope import InstanceEnvelope


class RecordingPublisher:
    """Stores every envelope it is given; `failure` (if set) is raised instead."""

    def __init__(self) -> None:
        self.published: list[EventEnvelope | InstanceEnvelope] = []
        self.failure: BaseException | None = None
        self.reachable = True

    async def publish(self, envelope: EventEnvelope | InstanceEnvelope) -> None:
        if self.failure is not None:
            raise self.failure
        self.published.append(envelope)

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
