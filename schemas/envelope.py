"""The event envelope the gateway writes to Kafka, and its record encoding.

A record's value is the envelope as JSON; its headers name the envelope version, the event id and
the interface, so a consumer can route or skip a record without parsing it. An envelope larger
than one Kafka record may carry (a 100k-department `allOrgSync` is ~10 MB, a broker's default
limit 1 MB) is split into parts: consecutive records with the same key (so the same partition, in
order) whose values are byte slices of the envelope and whose `syncpipe-part` header says
`uploadId:index:count`. A consumer applies the event only once it holds every part of one upload,
so a gateway that failed half-way through leaves nothing that can ever be applied.

Versioning: `envelopeVersion` is 1. A later format adds a new model and a branch in
`decode_record`; records of every version a process understands are read side by side.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.calls import AnyCall, Interface, normalised_body, parse_call
from schemas.event_id import event_id_of
from schemas.exceptions import MalformedEnvelope, UnknownEnvelopeVersion

ENVELOPE_VERSION = 1
HEADER_VERSION = "syncpipe-envelope"
HEADER_EVENT_ID = "syncpipe-event-id"
HEADER_INTERFACE = "syncpipe-interface"
HEADER_PART = "syncpipe-part"


class EventEnvelope(BaseModel):
    """One accepted call, as stored in Kafka."""

    model_config = ConfigDict(frozen=True)

    envelopeVersion: Literal[1] = 1
    eventId: str
    interface: Interface
    tenantId: str
    instanceId: str
    timeStamp: str
    testFlag: int
    acceptedAt: datetime
    call: dict[str, Any]

    @classmethod
    def from_call(cls, call: AnyCall, accepted_at: datetime) -> EventEnvelope:
        return cls(**envelope_fields(call, accepted_at))

    def parsed_call(self) -> AnyCall:
        """The call, validated again (raises InvalidCall: the gateway's validation is not trusted blindly)."""
        return parse_call(self.interface, self.call)


def envelope_fields(call: AnyCall, accepted_at: datetime) -> dict[str, Any]:
    """The fields of the envelope of `call`, accepted at `accepted_at`: what `EventEnvelope.from_call`
    validates, and what `encode_call` writes as they are (plain values, `acceptedAt` a datetime)."""
    body = normalised_body(call)
    return {
        "envelopeVersion": ENVELOPE_VERSION,
        "eventId": event_id_of(call.interface, body),
        "interface": call.interface.value,
        "tenantId": call.tenantId,
        "instanceId": call.instanceId,
        "timeStamp": call.timeStamp,
        "testFlag": call.testFlag,
        "acceptedAt": accepted_at,
        "call": body,
    }


_VERSION_HEADER = (HEADER_VERSION, str(ENVELOPE_VERSION).encode())
_INTERFACE_HEADER_VALUES = {interface: interface.value.encode() for interface in Interface}


class KafkaRecord(NamedTuple):
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class EnvelopePart(NamedTuple):
    """One slice of an envelope too large for a single record."""

    event_id: str
    tenant_id: str
    upload_id: str
    part_index: int
    part_count: int
    data: bytes


def encode_event(
    envelope: EventEnvelope, max_record_bytes: int, extra_headers: Sequence[tuple[str, bytes]] = ()
) -> list[KafkaRecord]:
    """The records that carry `envelope`: one, or `count` parts of at most `max_record_bytes` each.

    `extra_headers` (a trace context) go on every record, after ours."""
    value = envelope.model_dump_json().encode()
    return _records(
        envelope.tenantId,
        envelope.eventId,
        envelope.interface,
        value,
        max_record_bytes=max_record_bytes,
        extra_headers=extra_headers,
    )


def encode_call(
    call: AnyCall, accepted_at: datetime, max_record_bytes: int, extra_headers: Sequence[tuple[str, bytes]] = ()
) -> tuple[str, list[KafkaRecord]]:
    """The event id of `call` and the records that carry its envelope: the very bytes of
    `encode_event(EventEnvelope.from_call(call, accepted_at), max_record_bytes, extra_headers)`,
    without building and validating the model on the way (a third of a small call's envelope work).

    orjson writes the envelope as pydantic does (tests/schemas/test_fast_json.py); what
    orjson refuses (an integer beyond 64 bits in an unknown field) is left to pydantic.
    """
    fields = envelope_fields(call, accepted_at)
    event_id: str = fields["eventId"]
    try:
        value = orjson.dumps(fields, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        value = EventEnvelope.model_validate(fields).model_dump_json().encode()
    records = _records(
        call.tenantId, event_id, call.interface, value, max_record_bytes=max_record_bytes, extra_headers=extra_headers
    )
    return event_id, records


def _records(
    tenant_id: str,
    event_id: str,
    interface: Interface,
    value: bytes,
    *,
    max_record_bytes: int,
    extra_headers: Sequence[tuple[str, bytes]],
) -> list[KafkaRecord]:
    key = tenant_id.encode()
    headers = [
        _VERSION_HEADER,
        (HEADER_EVENT_ID, event_id.encode()),
        (HEADER_INTERFACE, _INTERFACE_HEADER_VALUES[interface]),
        *extra_headers,
    ]
    if len(value) <= max_record_bytes:
        return [KafkaRecord(key, value, headers)]
    upload_id = uuid.uuid4().hex
    slices = [value[start : start + max_record_bytes] for start in range(0, len(value), max_record_bytes)]
    return [
        KafkaRecord(key, piece, [*headers, (HEADER_PART, f"{upload_id}:{index}:{len(slices)}".encode())])
        for index, piece in enumerate(slices)
    ]


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return None


def decode_record(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> EventEnvelope | EnvelopePart:
    """Read one record; raise MalformedEnvelope (or UnknownEnvelopeVersion) if it is not ours."""
    version = _header(headers, HEADER_VERSION)
    if version is not None and version != str(ENVELOPE_VERSION):
        raise UnknownEnvelopeVersion(version)
    if value is None:
        raise MalformedEnvelope("record has no value")
    part = _header(headers, HEADER_PART)
    if part is not None:
        event = _header(headers, HEADER_EVENT_ID)
        try:
            upload_id, index, count = part.split(":")
            parsed = EnvelopePart(event or "", (key or b"").decode(), upload_id, int(index), int(count), value)
        except ValueError:
            raise MalformedEnvelope(f"bad {HEADER_PART} header {part!r}") from None
        if not event or not 0 <= parsed.part_index < parsed.part_count:
            raise MalformedEnvelope(f"bad part {part!r} of event {event!r}")
        return parsed
    return _decode_envelope(value)


def _decode_envelope(value: bytes) -> EventEnvelope:
    try:
        # One pass through pydantic's own JSON parser: a third of the work of the two passes below.
        return EventEnvelope.model_validate_json(value)
    except ValidationError:
        pass  # decoded again below, so what is refused, and with which error, does not change
    try:
        data = json.loads(value)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedEnvelope(f"record value is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedEnvelope("record value is not a JSON object")
    version = data.get("envelopeVersion")
    if version != ENVELOPE_VERSION:
        raise UnknownEnvelopeVersion(str(version))
    try:
        return EventEnvelope.model_validate(data)
    except ValidationError as exc:
        raise MalformedEnvelope(f"envelope does not validate: {exc.errors(include_url=False)[0]}") from None


def assemble(parts: Sequence[EnvelopePart]) -> EventEnvelope:
    """Join the parts of one upload (any order) back into the envelope."""
    if not parts:
        raise MalformedEnvelope("no parts to assemble")
    count = parts[0].part_count
    by_index = {part.part_index: part for part in parts}
    if len(by_index) != count or any(part.part_count != count for part in parts):
        raise MalformedEnvelope(f"upload {parts[0].upload_id} is incomplete")
    return _decode_envelope(b"".join(by_index[index].data for index in range(count)))
