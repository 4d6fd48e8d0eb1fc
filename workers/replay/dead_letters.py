"""Dead letters kept in Postgres (workers/applier/dead_letter_archive.py): list, show, retry, drop.

A letter is `dead` until an operator decides: `retried` once a retry finished its event (applied,
stale, test, or found to be a duplicate), `dropped` when it is given up (the row stays, for audit,
and so does the event's `dead_lettered` row).

Retry re-decodes the stored record with the code running now and feeds it to `apply_batch`, in one
transaction that first takes the lock of the event's subject (its tenant's, or an instance call's
instance's: the one every writer of its events takes) and removes its `dead_lettered` row: to the apply
path it is a record it has never seen. A fixed event becomes `applied` (or stale/test); one that still fails is
dead-lettered again by `apply_batch` itself, which updates the letter's reason. A dry run does all
of it and rolls back, so it tells what a retry would do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from runtime.outages import is_retriable
from schemas.redaction import shown_headers, shown_payload
from workers.applier.batch import apply_batch
from workers.applier.dead_letter_archive import decode_headers
from workers.applier.records import ConsumedRecord, DeadLetter
from workers.applier.subject_locks import lock_subject_of
from workers.outcomes import EventStatus
from workers.replay.transactions import in_one_transaction

STATES = ("dead", "retried", "dropped")

_SUMMARY_COLUMNS = (
    "dead_letter_id, event_id, tenant_id, interface, state, reason, failures, created_at, failed_at,"
    " retried_at, retry_status, dropped_at, source_topic, source_partition, source_offset, joined_parts"
)


@dataclass(frozen=True)
class DeadLetterSummary:
    dead_letter_id: int
    event_id: str
    tenant_id: str
    interface: str
    state: str
    reason: str
    failures: int
    created_at: datetime
    failed_at: datetime
    retried_at: datetime | None
    retry_status: str | None
    dropped_at: datetime | None
    source_topic: str
    source_partition: int
    source_offset: int
    joined_parts: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.dead_letter_id,
            "eventId": self.event_id,
            "tenantId": self.tenant_id,
            "interface": self.interface,
            "state": self.state,
            "reason": self.reason,
            "failures": self.failures,
            "createdAt": _iso(self.created_at),
            "failedAt": _iso(self.failed_at),
            "retriedAt": _iso(self.retried_at),
            "retryStatus": self.retry_status,
            "droppedAt": _iso(self.dropped_at),
            "source": {"topic": self.source_topic, "partition": self.source_partition, "offset": self.source_offset},
            "joinedParts": self.joined_parts,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class DeadLetterDetail:
    summary: DeadLetterSummary
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    event_status: str | None  # the event's row in `events` now, None if it has none

    def to_json(self) -> dict[str, Any]:
        """The summary, the event's status now, and the record: key, headers, value (redacted)."""
        headers = [{"name": name, "value": value} for name, value in shown_headers(self.headers)]
        return {
            **self.summary.to_json(),
            "eventStatus": self.event_status,
            "key": self.key.decode("utf-8", errors="replace") if self.key is not None else None,
            "headers": headers,
            **shown_payload(self.value),
        }


@dataclass(frozen=True)
class RetryOutcome:
    """`result`: the event's new status (applied, stale, test, duplicate, dead_lettered), or one of
    already_recorded, skipped (not `dead`), not_found, failed (the apply path raised), cannot_retry."""

    dead_letter_id: int
    event_id: str | None
    result: str
    reason: str | None = None

    @property
    def resolved(self) -> bool:
        return self.result in {"applied", "stale", "test", "duplicate", "already_recorded"}

    def to_json(self) -> dict[str, Any]:
        outcome = {"id": self.dead_letter_id, "eventId": self.event_id, "result": self.result}
        return {**outcome, "reason": self.reason, "resolved": self.resolved}


async def list_dead_letters(
    connection: asyncpg.Connection, *, states: Sequence[str] = ("dead",), tenant_id: str | None = None, limit: int
) -> tuple[list[DeadLetterSummary], int]:
    """The newest `limit` letters in `states` (of one tenant if given), oldest first, and how many match in all."""
    where = "state = ANY($1::text[]) AND ($2::text IS NULL OR tenant_id = $2)"
    rows = await connection.fetch(
        f"SELECT * FROM (SELECT {_SUMMARY_COLUMNS} FROM dead_letters WHERE {where}"
        " ORDER BY dead_letter_id DESC LIMIT $3) AS newest ORDER BY dead_letter_id",
        list(states),
        tenant_id,
        limit,
    )
    total = await connection.fetchval(f"SELECT count(*) FROM dead_letters WHERE {where}", list(states), tenant_id)
    return [DeadLetterSummary(**dict(row)) for row in rows], total


async def dead_letters_of_event(connection: asyncpg.Connection, event_id: str) -> list[DeadLetterSummary]:
    """Every letter an event has left, oldest first (a retry that failed again updates its letter)."""
    rows = await connection.fetch(
        f"SELECT {_SUMMARY_COLUMNS} FROM dead_letters WHERE event_id = $1 ORDER BY dead_letter_id", event_id
    )
    return [DeadLetterSummary(**dict(row)) for row in rows]


async def show_dead_letter(connection: asyncpg.Connection, dead_letter_id: int) -> DeadLetterDetail | None:
    row = await connection.fetchrow(
        f"SELECT {_SUMMARY_COLUMNS}, record_key, record_value, headers::text AS headers,"
        " (SELECT status FROM events WHERE events.event_id = dead_letters.event_id) AS event_status"
        " FROM dead_letters WHERE dead_letter_id = $1",
        dead_letter_id,
    )
    if row is None:
        return None
    fields = dict(row)
    extra = {name: fields.pop(name) for name in ("record_key", "record_value", "headers", "event_status")}
    return DeadLetterDetail(
        DeadLetterSummary(**fields),
        extra["record_key"],
        extra["record_value"],
        decode_headers(extra["headers"]),
        extra["event_status"],
    )


async def waiting_ids(connection: asyncpg.Connection, tenant_id: str | None = None) -> list[int]:
    """Every `dead` letter (of one tenant if given), in the order their records were consumed."""
    rows = await connection.fetch(
        "SELECT dead_letter_id FROM dead_letters WHERE state = 'dead' AND ($1::text IS NULL OR tenant_id = $1)"
        " ORDER BY source_topic, source_partition, source_offset",
        tenant_id,
    )
    return [row["dead_letter_id"] for row in rows]


class _AlreadyOnTopic:
    """The dead-letter sink of a retry: the record is on the dead-letter topic since it first
    failed, and its `dead_letters` row is updated by `apply_batch`; nothing more to send."""

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        pass


async def retry_dead_letter(
    connection: asyncpg.Connection, dead_letter_id: int, *, dry_run: bool, ready_url_template: str | None = None
) -> RetryOutcome:
    """Retry one letter in its own transaction; a retriable failure (Postgres down) is raised.

    `ready_url_template`: SYNCPIPE_INSTANCE_READY_URL_TEMPLATE, for a newInstance retried (None: none)."""
    row = await connection.fetchrow(
        "SELECT event_id, state FROM dead_letters WHERE dead_letter_id = $1", dead_letter_id
    )
    if row is None:
        return RetryOutcome(dead_letter_id, None, "not_found")
    if row["state"] != "dead":
        return RetryOutcome(dead_letter_id, row["event_id"], "skipped", f"already {row['state']}")
    try:
        return await in_one_transaction(
            connection,
            lambda: _retry(connection, dead_letter_id, ready_url_template),
            keep=lambda outcome: not dry_run and outcome.result not in {"cannot_retry", "skipped"},
        )
    except Exception as exc:
        if is_retriable(exc):
            raise
        outcome = RetryOutcome(dead_letter_id, row["event_id"], "failed", f"retry failed: {exc!r}")
        if not dry_run:
            await connection.execute(
                "UPDATE dead_letters SET reason = $2, failures = failures + 1, failed_at = now(),"
                " retried_at = now(), retry_status = 'failed' WHERE dead_letter_id = $1",
                dead_letter_id,
                outcome.reason,
            )
    return outcome


async def _retry(connection: asyncpg.Connection, dead_letter_id: int, ready_url_template: str | None) -> RetryOutcome:
    letter = await connection.fetchrow(
        "SELECT source_topic, source_partition, source_offset, record_key, record_value,"
        " headers::text AS headers FROM dead_letters WHERE dead_letter_id = $1",
        dead_letter_id,
    )
    record = ConsumedRecord(
        letter["source_topic"],
        letter["source_partition"],
        letter["source_offset"],
        letter["record_key"],
        letter["record_value"],
        decode_headers(letter["headers"]),
    )
    # The event's row is removed and written again under the lock every writer of its subject's events
    # holds (its tenant's, an instance call's instance's), taken before the letter's row lock: the order
    # of a worker dead-lettering the same record again. A letter's record never changes.
    await lock_subject_of(connection, record)
    decided = await connection.fetchrow(
        "SELECT event_id, state FROM dead_letters WHERE dead_letter_id = $1 FOR UPDATE", dead_letter_id
    )
    event_id = decided["event_id"]
    if decided["state"] != "dead":  # decided by someone else since we looked
        return RetryOutcome(dead_letter_id, event_id, "skipped", f"already {decided['state']}")
    await connection.execute("DELETE FROM events WHERE event_id = $1 AND status = 'dead_lettered'", event_id)
    result = await apply_batch(connection, [record], _AlreadyOnTopic(), ready_url_template=ready_url_template)
    if result.parts_waiting:
        gone = "a part of an upload whose other parts are gone: the platform must send the call again"
        return RetryOutcome(dead_letter_id, event_id, "cannot_retry", gone)
    reason: str | None = None
    if not result.finished:
        status = "already_recorded"
    else:
        finished = result.finished[0]
        status, reason = finished.status.value, finished.reason
        event_id = finished.event_id
    # Still failing: apply_batch dead-lettered it again and updated the letter's reason; it stays `dead`.
    await connection.execute(
        "UPDATE dead_letters SET retried_at = now(), retry_status = $2,"
        " state = CASE WHEN $2 = $3 THEN state ELSE 'retried' END WHERE dead_letter_id = $1",
        dead_letter_id,
        status,
        EventStatus.DEAD_LETTERED.value,
    )
    return RetryOutcome(dead_letter_id, event_id, status, reason)


@dataclass(frozen=True)
class DropOutcome:
    dead_letter_id: int
    result: str  # dropped, not_found, skipped (not `dead`)
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.dead_letter_id, "result": self.result, "reason": self.reason}


async def drop_dead_letters(
    connection: asyncpg.Connection, dead_letter_ids: Sequence[int], *, dry_run: bool
) -> list[DropOutcome]:
    """Mark `dead` letters dropped (one statement); a dry run only tells which would be."""
    async with connection.transaction():
        rows = await connection.fetch(
            "SELECT dead_letter_id, state FROM dead_letters WHERE dead_letter_id = ANY($1::bigint[]) FOR UPDATE",
            list(dead_letter_ids),
        )
        states = {row["dead_letter_id"]: row["state"] for row in rows}
        droppable = [letter for letter in dead_letter_ids if states.get(letter) == "dead"]
        if droppable and not dry_run:
            await connection.execute(
                "UPDATE dead_letters SET state = 'dropped', dropped_at = now()"
                " WHERE dead_letter_id = ANY($1::bigint[])",
                droppable,
            )
    outcomes = []
    for letter in dead_letter_ids:
        state = states.get(letter)
        if state is None:
            outcomes.append(DropOutcome(letter, "not_found"))
        elif state != "dead":
            outcomes.append(DropOutcome(letter, "skipped", f"already {state}"))
        else:
            outcomes.append(DropOutcome(letter, "dropped"))
    return outcomes
