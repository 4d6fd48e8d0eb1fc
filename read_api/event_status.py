"""What the read API tells about one event (SPEC §7): where it is in the pipeline and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.timestamps import format_platform_time

# Not a status the applier writes: the event's parts are arriving but the whole call is not yet here.
ACCEPTED = "accepted"


@dataclass(frozen=True, slots=True)
class AckState:
    """The event's ack (SPEC §6): the one the platform still waits for, else the event's first ack.

    `attempts` counts POSTs started; `last_error` is the latest failure, kept once sent (it tells
    what delayed the ack). Both are None for an ack sent long enough ago that its outbox row was
    pruned (SYNCPIPE_RETENTION_SENT_ACKS_HOURS, docs/retention.md).
    """

    sent: bool
    attempts: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class EventStatus:
    """One row of `events`, or what `event_parts` tells of an event still being assembled."""

    event_id: str
    tenant_id: str
    status: str
    interface: str | None = None
    reason: str | None = None
    time_stamp: datetime | None = None
    duplicates: int = 0
    finished_at: datetime | None = None
    ack: AckState | None = None


def render_event_status(event: EventStatus) -> dict[str, Any]:
    """`timeStamp` in the platform's own format (as the call carried it); `finishedAt` in ISO 8601;
    `ack` null until the event has one, else `{"state": "pending"|"sent", "attempts", "lastError"}`
    (`attempts` null: sent, its outbox row since pruned)."""
    return {
        "eventId": event.event_id,
        "interface": event.interface,
        "tenantId": event.tenant_id,
        "status": event.status,
        "reason": event.reason,
        "timeStamp": format_platform_time(event.time_stamp) if event.time_stamp else None,
        "duplicates": event.duplicates,
        "finishedAt": event.finished_at.isoformat() if event.finished_at else None,
        "ack": _render_ack(event.ack) if event.ack else None,
    }


def _render_ack(ack: AckState) -> dict[str, Any]:
    return {"state": "sent" if ack.sent else "pending", "attempts": ack.attempts, "lastError": ack.last_error}
