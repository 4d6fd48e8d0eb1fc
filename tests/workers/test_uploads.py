"""Uploads in parts on Postgres: `take_whole_upload`, what a part dead-lettered on its own is kept as."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from schemas.calls import parse_call
from schemas.envelope import HEADER_PART, EnvelopePart, EventEnvelope, decode_record, encode_event
from tests.gateway.platform import sample_body
from tests.workers.replay.recovery_fixtures import DiscardedLetters
from workers.applier.batch import apply_batch
from workers.applier.records import ConsumedRecord
from workers.applier.uploads import collect_uploads, take_whole_upload
from workers.outcomes import EventStatus

pytestmark = pytest.mark.integration

TENANT = "t-uploads"
RECORD_BYTES = 512


def upload() -> tuple[EventEnvelope, list[ConsumedRecord]]:
    """A full sync and the records that carry it in parts, at offsets 0, 1, ..."""
    departments = [{"orgCode": f"D{n:02d}", "orgName": f"部门 {n}", "parentCode": ""} for n in range(20)]
    call = parse_call("allOrgSync", sample_body("allOrgSync", TENANT, orgInfoList=departments))
    envelope = EventEnvelope.from_call(call, datetime.now(UTC))
    records = [
        ConsumedRecord("events", 0, offset, record.key, record.value, tuple(record.headers))
        for offset, record in enumerate(encode_event(envelope, RECORD_BYTES))
    ]
    assert len(records) > 2
    return envelope, records


async def store(connection: asyncpg.Connection, records: list[ConsumedRecord]) -> None:
    """Store parts as `apply_batch` does (none of them completing an upload)."""
    parts = []
    for position, record in enumerate(records):
        part = decode_record(record.key, record.value, record.headers)
        assert isinstance(part, EnvelopePart)
        parts.append((position, record, part))
    now = await connection.fetchval("SELECT now()")
    assert (await collect_uploads(connection, parts, now)).assembled == []


async def stored_parts(connection: asyncpg.Connection) -> int:
    count: int = await connection.fetchval("SELECT count(*) FROM event_parts")
    return count


async def test_the_part_that_completes_an_upload_takes_it_whole(connection: asyncpg.Connection) -> None:
    envelope, records = upload()
    await store(connection, records[:-1])
    assert await take_whole_upload(connection, records[-1]) == envelope
    assert await stored_parts(connection) == 0


async def test_a_part_of_an_upload_still_incomplete_takes_nothing(connection: asyncpg.Connection) -> None:
    _, records = upload()
    await store(connection, records[:-2])
    assert await take_whole_upload(connection, records[-1]) is None
    assert await stored_parts(connection) == len(records) - 2


async def test_a_record_that_is_no_part_takes_nothing(connection: asyncpg.Connection) -> None:
    envelope, records = upload()
    await store(connection, records[:-1])
    (whole,) = encode_event(envelope, 1024 * 1024)
    single = ConsumedRecord("events", 0, 9, whole.key, whole.value, tuple(whole.headers))
    garbage = ConsumedRecord("events", 0, 10, b"t", b"not json", ())
    assert await take_whole_upload(connection, single) is None
    assert await take_whole_upload(connection, garbage) is None
    assert await stored_parts(connection) == len(records) - 1


async def test_a_part_whose_upload_id_no_query_can_hold_takes_nothing(connection: asyncpg.Connection) -> None:
    _, records = upload()
    last = records[-1]
    headers = tuple(
        (name, b"a\x00b" + value[value.index(b":") :] if name == HEADER_PART else value) for name, value in last.headers
    )
    assert await take_whole_upload(connection, last._replace(headers=headers)) is None


def moved(records: list[ConsumedRecord], first_offset: int) -> list[ConsumedRecord]:
    return [record._replace(offset=first_offset + index) for index, record in enumerate(records)]


async def test_a_redelivered_tail_of_a_finished_upload_is_not_kept_waiting(connection: asyncpg.Connection) -> None:
    """The worker committed the batch that completed the upload, then stopped before committing its
    offsets: the tail of the upload comes again without its head, whose parts were deleted."""
    envelope, records = upload()
    first = await apply_batch(connection, records, DiscardedLetters())
    assert [event.status for event in first.finished] == [EventStatus.APPLIED]

    again = await apply_batch(connection, records[-2:], DiscardedLetters())
    assert (again.finished, again.redeliveries, again.parts_waiting) == ([], 2, 0)
    assert await stored_parts(connection) == 0

    # The same call sent again is another upload, later in the partition: it still finishes, as a duplicate.
    _, resent = upload()
    later = await apply_batch(connection, moved(resent, first_offset=len(records)), DiscardedLetters())
    assert [(event.event_id, event.status) for event in later.finished] == [(envelope.eventId, EventStatus.DUPLICATE)]
    assert await stored_parts(connection) == 0


async def test_parts_of_an_unfinished_upload_are_kept_when_they_come_again(connection: asyncpg.Connection) -> None:
    _, records = upload()
    head = records[: len(records) - 1]
    await apply_batch(connection, head[:1], DiscardedLetters())
    again = await apply_batch(connection, head, DiscardedLetters())
    assert (again.redeliveries, again.parts_waiting) == (0, len(head))
    assert await stored_parts(connection) == len(head)
