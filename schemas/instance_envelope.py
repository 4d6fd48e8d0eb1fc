"""An accepted instance call as stored in Kafka: its envelope, its event id, its record.

Instance calls share the events topic with the sync calls (one log to retain, replay and consume);
a record says which it is in its `syncpipe-subject` header, so a consumer routes it before parsing.
The key is the instance id, so one instance's calls go to one partition, in the order accepted.

The version of an instance call is the time the platform signed it (the query's `timestamp`, Unix ms):
SPEC §9 orders calls by it, a re-send carries a newer one. The event id hashes the activity, the
call's fields and that time, so a record delivered twice (a producer retry, a replay) is one event,
while a re-send (signed again, later) is an event of its own, applied in its place in time. The
`businessId` is left out: it differs on every request, even a re-send, and names the request, not
the change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.envelope import HEADER_EVENT_ID, HEADER_INTERFACE, HEADER_VERSION, KafkaRecord
from schemas.exceptions import InvalidCall, MalformedEnvelope, UnknownEnvelopeVersion
from schemas.instance_calls import Activity, InstanceChange, instance_of, parse_instance_change

HEADER_SUBJECT = "syncpipe-subject"
INSTANCE_SUBJECT = b"instance"
_ID_SCHEME = "syncpipe-instance-event-id/1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Left out of the event id: a request id, new on every request.
_REQUEST_FIELDS = frozenset({"businessId"})


def signed_time(timestamp_ms: int) -> datetime:
    """The signing timestamp (Unix ms) as an exact UTC datetime: the version of the call."""
    return _EPOCH + timedelta(milliseconds=timestamp_ms)


def instance_event_id(call: InstanceChange, signed_at_ms: int) -> str:
    """32 hex characters from the activity, the fields (key order, whitespace, nonce, signature and
    businessId aside) and the signing time."""
    fields = {key: value for key, value in call.model_dump().items() if key not in _REQUEST_FIELDS}
    content = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{_ID_SCHEME}\n{call.kind}\n{signed_at_ms}\n{content}".encode()).hexdigest()[:32]


class InstanceEnvelope(BaseModel):
    """One accepted instance call; `call` holds its fields as strings (unknown ones too)."""

    model_config = ConfigDict(frozen=True)

    envelopeVersion: Literal[1] = 1
    subject: Literal["instance"] = "instance"
    eventId: str
    activity: Activity
    instanceId: str
    signedAt: int
    testFlag: int
    acceptedAt: datetime
    call: dict[str, str]

    @classmethod
    def from_call(cls, call: InstanceChange, signed_at_ms: int, accepted_at: datetime) -> InstanceEnvelope:
        return cls(
            eventId=instance_event_id(call, signed_at_ms),
            activity=call.kind,
            instanceId=instance_of(call),
            signedAt=signed_at_ms,
            testFlag=int(call.debug),
            acceptedAt=accepted_at,
            call=call.model_dump(),
        )

    @property
    def version(self) -> datetime:
        return signed_time(self.signedAt)

    def parsed_call(self) -> InstanceChange:
        """The call validated again (InvalidCall if it no longer validates or names another instance)."""
        call = parse_instance_change(self.call)
        if call.kind is not self.activity or instance_of(call) != self.instanceId:
            raise InvalidCall("instanceId", f"the envelope names {self.activity} of {self.instanceId!r}, not its call")
        return call


def is_instance_record(headers: tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]]) -> bool:
    return any(name == HEADER_SUBJECT and value == INSTANCE_SUBJECT for name, value in headers)


def encode_instance_event(envelope: InstanceEnvelope, extra_headers: Sequence[tuple[str, bytes]] = ()) -> KafkaRecord:
    """One record: instance calls are small (the gateway bounds their bodies below a record's size).
    `extra_headers` (a trace context) go after ours."""
    return KafkaRecord(
        envelope.instanceId.encode(),
        envelope.model_dump_json().encode(),
        [
            (HEADER_VERSION, b"1"),
            (HEADER_EVENT_ID, envelope.eventId.encode()),
            (HEADER_INTERFACE, envelope.activity.value.encode()),
            (HEADER_SUBJECT, INSTANCE_SUBJECT),
            *extra_headers,
        ],
    )


def decode_instance_record(value: bytes | None) -> InstanceEnvelope:
    """Raise MalformedEnvelope (or UnknownEnvelopeVersion) if the value is not an instance envelope."""
    if value is None:
        raise MalformedEnvelope("record has no value")
    try:
        return InstanceEnvelope.model_validate_json(value)
    except ValidationError as exc:
        try:
            version = json.loads(value).get("envelopeVersion")
        except (ValueError, AttributeError):
            raise MalformedEnvelope("record value is not a JSON object") from None
        if version != 1:
            raise UnknownEnvelopeVersion(str(version)) from None
        error = exc.errors(include_url=False)[0]
        raise MalformedEnvelope(f"instance envelope does not validate: {error['loc']}: {error['msg']}") from None
