"""How an event ends: its final status and what is known of it then. The applier writes these, the acker
acknowledges them, the read API and the recovery commands show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventStatus(StrEnum):
    ACCEPTED = "accepted"
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    TEST = "test"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class FinishedEvent:
    """An event that reached a final status in a committed batch (the ack to send is derived from it)."""

    event_id: str
    tenant_id: str
    instance_id: str
    interface: str
    status: EventStatus
    reason: str | None
    time_stamp: datetime | None
    test_flag: int
    accepted_at: datetime | None
    partition: int
    offset: int
    call: dict[str, Any] | None
    trace_parent: str | None = None  # the call's trace context (runtime.tracing), when the gateway traced it
