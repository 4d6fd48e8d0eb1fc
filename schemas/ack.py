"""The acknowledgement sent back to the platform when an event is finished (SPEC §6).

One JSON object per POST, signed with the headers of SPEC §2:

| field | meaning |
|---|---|
| `eventId`, `interface`, `tenantId`, `instanceId` | the event, as the gateway accepted it |
| `status` | `applied`, `duplicate`, `stale`, `test`, `failed` or `dead_lettered` |
| `resultCode` | `000000` the platform need do nothing more; `000003` the call was not applied |
| `resultMsg` | which of those, in words; for a call not applied, why |
| `finishedAt` | when the event finished, `yyyyMMddHHmmssSSS` UTC+8 |

`finishedAt` is in the platform's own format, the one its calls' `timeStamp` uses, so the platform
parses a single time format.

Delivery is at least once: the receiver dedupes on `eventId`. A call the platform sent again
(same body, same `eventId`) gets an ack of its own with status `duplicate` and code `000000`, sent
only after the event's first ack was delivered, so the first ack a receiver keeps for an `eventId`
always carries the event's own outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.timestamps import format_platform_time

AckStatus = Literal["applied", "duplicate", "stale", "test", "failed", "dead_lettered"]

DONE = "000000"
# Not one of the gateway's codes (§3): a call that was accepted, and then could not be applied.
NOT_APPLIED = "000003"

_DONE_MESSAGES: dict[str, str] = {
    "applied": "applied",
    "duplicate": "duplicate: this call was already processed under the same eventId",
    "stale": "stale: older than the current version; recorded, not applied",
    "test": "test call: validated, nothing changed",
}
# The platform gets the gist; the full reason stays in the event status of the read API.
MAX_REASON_CHARS = 200


class Ack(BaseModel):
    """The body of one ack POST."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    eventId: str
    interface: str
    tenantId: str
    instanceId: str
    status: AckStatus
    resultCode: str
    resultMsg: str
    finishedAt: str

    @classmethod
    def finished(
        cls,
        *,
        event_id: str,
        interface: str,
        tenant_id: str,
        instance_id: str,
        status: str,
        reason: str | None,
        finished_at: datetime,
    ) -> Ack:
        """The ack of an event that ended with `status` (ValidationError if that is not a final
        status); `reason` matters only for a call not applied.

        Only the first line of the reason goes out, cut to MAX_REASON_CHARS: reasons are written by
        our own validation and name the offending field, but a stack of exception reprs has no
        business leaving the merchant.
        """
        if status in _DONE_MESSAGES:
            code, message = DONE, _DONE_MESSAGES[status]
        else:
            lines = (reason or "").strip().splitlines()
            detail = lines[0][:MAX_REASON_CHARS] if lines else "no reason recorded"
            code, message = NOT_APPLIED, f"{status}: {detail}"
        return cls(
            eventId=event_id,
            interface=interface,
            tenantId=tenant_id,
            instanceId=instance_id,
            status=status,
            resultCode=code,
            resultMsg=message,
            finishedAt=format_platform_time(finished_at),
        )
