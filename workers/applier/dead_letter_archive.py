"""The `dead_letters` table: every dead-lettered record kept in Postgres, raw, with its reason.

Written inside the transaction that records the event as `dead_lettered` (`apply_batch`,
`BatchLoop._dead_letter_failed`), so an event is dead-lettered in `events` exactly when its record
is here for `syncpipe dlq` to show, retry or drop (workers/replay/dead_letters.py). The topic copy
(workers/applier/dead_letters.py) is for alerting; it is not needed to re-drive a letter.

One row per source record (topic, partition, offset): a record that fails again — a retry that
still fails — updates its row (reason, failures, back to `dead`) instead of adding one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import asyncpg

from schemas.envelope import HEADER_INTERFACE, HEADER_PART
from workers.applier.records import DeadLetter


async def store_dead_letters(connection: asyncpg.Connection, letters: Sequence[DeadLetter]) -> None:
    """Upsert one row per letter, in the caller's transaction (one statement).

    A part of an upload that assembled and then failed validation, or failed to apply on its own
    (`BatchLoop._dead_letter_failed`), is stored as the whole envelope it assembled into
    (`DeadLetter.envelope`): the parts are deleted once assembled, and a lone part could never be retried.
    """
    if not letters:
        return
    rows = []
    for letter in letters:
        record = letter.record
        headers = list(record.headers)
        value = record.value
        envelope = letter.envelope.model_dump_json().encode() if letter.envelope and _is_part(letter) else None
        if envelope is not None:
            headers = [(name, data) for name, data in headers if name != HEADER_PART]
            value = envelope
        interface = dict(headers).get(HEADER_INTERFACE, b"unknown").decode(errors="replace")
        rows.append(
            (
                letter.event_id,
                letter.tenant_id,
                interface,
                letter.reason,
                record.topic,
                record.partition,
                record.offset,
                record.key,
                value,
                encode_headers(headers),
                envelope is not None,
            )
        )
    await connection.execute(
        "INSERT INTO dead_letters (event_id, tenant_id, interface, reason, source_topic, source_partition,"
        " source_offset, record_key, record_value, headers, joined_parts)"
        " SELECT e, t, i, r, st, sp, so, k, v, h::jsonb, j"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::bigint[],"
        "  $8::bytea[], $9::bytea[], $10::text[], $11::boolean[]) AS x(e, t, i, r, st, sp, so, k, v, h, j)"
        " ON CONFLICT (source_topic, source_partition, source_offset) DO UPDATE SET"
        " event_id = EXCLUDED.event_id, reason = EXCLUDED.reason, interface = EXCLUDED.interface,"
        " state = 'dead', failures = dead_letters.failures + 1, failed_at = now(), dropped_at = NULL",
        *[list(column) for column in zip(*rows, strict=True)],
    )


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> str:
    """Kafka headers as JSON `[[name, base64 value], ...]`: values are bytes, order is kept."""
    return json.dumps([[name, base64.b64encode(data).decode()] for name, data in headers])


def decode_headers(stored: str) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, base64.b64decode(data)) for name, data in json.loads(stored))


def _is_part(letter: DeadLetter) -> bool:
    return any(name == HEADER_PART for name, _ in letter.record.headers)
