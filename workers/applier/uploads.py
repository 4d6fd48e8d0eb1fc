"""Parts of envelopes too large for one Kafka record, kept in Postgres until an upload is whole.

Parts are stored in the batch's transaction, so the Kafka offsets of a half-received upload can
be committed safely; an upload the gateway never finished (it answered 000005) is never applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg

from schemas.envelope import EnvelopePart, EventEnvelope, assemble, decode_record
from schemas.exceptions import MalformedEnvelope
from workers.applier.records import ConsumedRecord


class Uploads(NamedTuple):
    """What a batch's parts came to."""

    assembled: list[tuple[int, ConsumedRecord, EventEnvelope]]  # envelopes now complete
    broken: list[tuple[ConsumedRecord, str]]  # uploads that cannot assemble, and why
    waiting: int  # parts stored, their upload still incomplete
    redelivered: int  # parts consumed before, whose upload was finished then


async def collect_uploads(
    connection: asyncpg.Connection, parts: Sequence[tuple[int, ConsumedRecord, EnvelopePart]], received_at: datetime
) -> Uploads:
    """Store `parts` and assemble every upload they complete.

    A completed envelope takes the batch position and record of its last part in this batch. A part
    at or before the record that finished its event (the `events` row names it) in the same
    partition was consumed before, and its upload finished then: it is a redelivery (the worker
    stopped between committing and committing its offsets) and is not stored again, else a
    redelivered tail of an upload would wait here forever for parts deleted when it completed.
    """
    finished = await connection.fetch(
        "SELECT event_id, kafka_partition, kafka_offset FROM events"
        " WHERE event_id = ANY($1::text[]) AND kafka_offset IS NOT NULL",
        list({part.event_id for _, _, part in parts}),
    )
    last_finished = {(row["event_id"], row["kafka_partition"]): row["kafka_offset"] for row in finished}
    consumed = len(parts)
    parts = [
        (position, record, part)
        for position, record, part in parts
        if record.offset > last_finished.get((part.event_id, record.partition), -1)
    ]
    redelivered = consumed - len(parts)
    if not parts:
        return Uploads([], [], 0, redelivered)
    await connection.execute(
        "INSERT INTO event_parts (upload_id, part_index, part_count, event_id, tenant_id, data, received_at)"
        " SELECT *, $7 FROM unnest($1::text[], $2::integer[], $3::integer[], $4::text[], $5::text[], $6::bytea[])"
        " ON CONFLICT (upload_id, part_index) DO NOTHING",
        [part.upload_id for _, _, part in parts],
        [part.part_index for _, _, part in parts],
        [part.part_count for _, _, part in parts],
        [part.event_id for _, _, part in parts],
        [part.tenant_id for _, _, part in parts],
        [part.data for _, _, part in parts],
        received_at,
    )
    last: dict[str, tuple[int, ConsumedRecord]] = {}
    for position, record, part in parts:
        last[part.upload_id] = (position, record)
    rows = await connection.fetch(
        "SELECT upload_id, part_index, part_count, event_id, tenant_id, data FROM event_parts"
        " WHERE upload_id IN (SELECT upload_id FROM event_parts WHERE upload_id = ANY($1::text[])"
        " GROUP BY upload_id, part_count HAVING count(*) = part_count)",
        list(last),
    )
    complete: dict[str, list[EnvelopePart]] = {}
    for row in rows:
        complete.setdefault(row["upload_id"], []).append(
            EnvelopePart(
                row["event_id"], row["tenant_id"], row["upload_id"], row["part_index"], row["part_count"], row["data"]
            )
        )
    assembled: list[tuple[int, ConsumedRecord, EventEnvelope]] = []
    broken: list[tuple[ConsumedRecord, str]] = []
    for upload_id, upload_parts in complete.items():
        position, record = last[upload_id]
        try:
            assembled.append((position, record, assemble(upload_parts)))
        except MalformedEnvelope as exc:
            broken.append((record, f"upload {upload_id}: {exc}"))
    if complete:
        await connection.execute("DELETE FROM event_parts WHERE upload_id = ANY($1::text[])", list(complete))
    waiting = sum(1 for _, _, part in parts if part.upload_id not in complete)
    return Uploads(assembled, broken, waiting, redelivered)


async def take_whole_upload(connection: asyncpg.Connection, record: ConsumedRecord) -> EventEnvelope | None:
    """For a record about to be dead-lettered on its own: if it is the part that completes an upload
    with the parts stored before it, the envelope they assemble into, and those parts are deleted.

    The part failed with the whole envelope (it is where the upload assembles), and stored alone it
    could be retried only while the other parts wait here: a redelivery of the upload assembles it,
    finds the event recorded, and deletes them. None (nothing deleted) for any other record. Reads
    and deletes only: the record was never stored, and storing it might be what fails.
    """
    try:
        part = decode_record(record.key, record.value, record.headers)
    except MalformedEnvelope:
        return None
    if not isinstance(part, EnvelopePart) or "\x00" in part.upload_id:
        return None  # a NUL (from a foreign header) would fail the query, and the dead letter with it
    rows = await connection.fetch(
        "SELECT part_index, part_count, event_id, tenant_id, data FROM event_parts WHERE upload_id = $1",
        part.upload_id,
    )
    stored = [
        EnvelopePart(
            row["event_id"], row["tenant_id"], part.upload_id, row["part_index"], row["part_count"], row["data"]
        )
        for row in rows
    ]
    try:
        envelope = assemble([*stored, part])
    except MalformedEnvelope:
        return None
    await connection.execute("DELETE FROM event_parts WHERE upload_id = $1", part.upload_id)
    return envelope
