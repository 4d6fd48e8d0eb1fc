"""Which records of a window a replay re-feeds, grouped into events, without decoding where possible.

The tenant is the record key and the interface and event id are headers (schemas/envelope.py), so
filtering and deduplication read no value; only a record lacking those headers is decoded.

Parts of one upload are handed on together, once all of them were read, as one `ReplayEvent`
placed where its last part was (where the live worker assembles it too). An upload the window cuts
(its first parts before the start, its last after the end) is never handed on: fed alone, its parts
would wait in `event_parts` forever. The replay reports it, and a wider window picks it up whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from schemas.envelope import HEADER_EVENT_ID, HEADER_INTERFACE, HEADER_PART, EventEnvelope, decode_record
from schemas.exceptions import MalformedEnvelope
from schemas.instance_envelope import is_instance_record
from workers.applier.records import ConsumedRecord


class ReplayEvent(NamedTuple):
    """One event's records: a single record, or every part of one upload in offset order."""

    event_id: str
    interface: str
    records: tuple[ConsumedRecord, ...]


@dataclass(frozen=True)
class RecordFilter:
    """Empty sets match everything. Naming tenants or instances keeps the records of those only: a sync
    call's key is its tenant, an instance call's (SPEC §9) its instance."""

    tenants: frozenset[str] = frozenset()
    interfaces: frozenset[str] = frozenset()
    instances: frozenset[str] = frozenset()

    def matches(self, record: ConsumedRecord) -> bool:
        if self.tenants or self.instances:
            key = (record.key or b"").decode(errors="replace")
            wanted = self.instances if is_instance_record(record.headers) else self.tenants
            if key not in wanted:
                return False
        return not self.interfaces or interface_of(record) in self.interfaces


def _header(record: ConsumedRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode(errors="replace")
    return None


def _envelope(record: ConsumedRecord) -> EventEnvelope | None:
    try:
        decoded = decode_record(record.key, record.value, record.headers)
    except MalformedEnvelope:
        return None
    return decoded if isinstance(decoded, EventEnvelope) else None


def interface_of(record: ConsumedRecord) -> str:
    found = _header(record, HEADER_INTERFACE)
    if found is None:
        envelope = _envelope(record)
        found = envelope.interface.value if envelope else "unknown"
    return found


def event_id_of(record: ConsumedRecord) -> str:
    """The id `apply_batch` records the event under (the synthetic one for an unreadable record)."""
    found = _header(record, HEADER_EVENT_ID)
    if not found:
        envelope = _envelope(record)
        found = envelope.eventId if envelope else record.synthetic_event_id()
    return found


@dataclass
class _Upload:
    count: int
    parts: dict[int, ConsumedRecord] = field(default_factory=dict)


@dataclass
class EventGrouper:
    """Turns records (in read order) into events; holds parts until their upload is whole."""

    _uploads: dict[str, _Upload] = field(default_factory=dict)

    def add(self, records: Iterable[ConsumedRecord]) -> list[ReplayEvent]:
        ready = []
        for record in records:
            part = _part(record)
            if part is None:
                ready.append(ReplayEvent(event_id_of(record), interface_of(record), (record,)))
                continue
            upload_id, index, count = part
            upload = self._uploads.setdefault(upload_id, _Upload(count))
            upload.parts.setdefault(index, record)  # a part written twice (a producer retry) counts once
            if len(upload.parts) == upload.count:
                del self._uploads[upload_id]
                parts = tuple(sorted(upload.parts.values(), key=lambda r: r.offset))
                ready.append(ReplayEvent(event_id_of(record), interface_of(record), parts))
        return ready

    @property
    def incomplete_uploads(self) -> int:
        """Uploads of which some parts were read and others not (cut by the window)."""
        return len(self._uploads)


def _part(record: ConsumedRecord) -> tuple[str, int, int] | None:
    """(upload id, index, count) of a well-formed part; None for a whole record or a malformed part header
    (such a record goes on alone and `apply_batch` decides about it, as it did the first time)."""
    header = _header(record, HEADER_PART)
    if header is None:
        return None
    try:
        upload_id, index, count = header.split(":")
        parsed = (upload_id, int(index), int(count))
    except ValueError:
        return None
    return parsed if 0 <= parsed[1] < parsed[2] else None
