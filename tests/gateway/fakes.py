"""Small fakes of the gateway's publisher port."""

from __future__ import annotations

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
