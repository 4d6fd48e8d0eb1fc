"""Checkpoints: what a subject's pruned calls add up to, kept so that a rebuild can start from it.

Before a day of `events` is dropped, its applied and stale calls are folded, subject by subject, into
that subject's checkpoint (a fresh state for the first) with the rules the workers use: a tenant's
into its `TenantState` (workers/retention/tenant_checkpoints.py), an instance's (SPEC §9: no tenant)
into its set of changes (workers/retention/instance_checkpoints.py). A rebuild starts from the
checkpoint and applies the retained calls on top; by the convergence property (SPEC §5: any order,
any duplicates) that gives what a rebuild from the whole history would give. Only calls that no
longer validate cannot be folded: they are listed in the checkpoint, and a rebuild of that subject
refuses.

This module is the one way both kinds are read, folded and written; a `CheckpointKind` says where a
kind is stored, which calls are its own and how its state is read, folded into and written.
Folding is idempotent: a subject whose checkpoint already covers a partition (`folded_before` at or
past its end) is skipped, so a prune that stopped between folding and dropping is simply run again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

import asyncpg

from schemas.exceptions import InvalidCall

# The events whose calls shaped the state: a stale call can still raise a floor. Not `test` (changes
# nothing), `dead_lettered` (never applied) or `duplicate` (never a row of its own).
FOLDED_STATUSES = ("applied", "stale")

State = TypeVar("State")


@dataclass(frozen=True)
class CheckpointKind(Generic[State]):
    """One kind of checkpoint: its table, the `events` rows it folds, and its state's rules and storage."""

    table: str  # one row per subject: folded_before, events_folded, `state_column`, unreadable
    subject: str  # the subject's column, in `table` and in `events`
    state_column: str
    calls: str  # SQL: the `events` rows that are this kind's calls; its parameters are `calls_arguments`
    calls_arguments: tuple[Any, ...]
    order: str  # of one subject's calls, when folded
    per_group: int  # subjects folded per transaction: bounds the calls and states held in memory at once
    fresh: Callable[[str], State]
    decode: Callable[[str, str], State]  # (subject, the state column as JSON text)
    encode: Callable[[State], str]  # as JSON text
    fold: Callable[[State, asyncpg.Record], None]  # one `events` row's call; InvalidCall if it no longer validates


class Checkpoint(NamedTuple, Generic[State]):
    subject: str
    folded_before: datetime  # every applied or stale call that finished before this is in `state`
    events_folded: int
    state: State
    unreadable: list[tuple[str, str]]  # (event id, why) of calls that could not be folded


@dataclass
class FoldReport:
    subjects: int = 0
    events: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


async def load_checkpoint(
    connection: asyncpg.Connection, kind: CheckpointKind[State], subject: str
) -> Checkpoint[State] | None:
    row = await connection.fetchrow(
        f"SELECT folded_before, events_folded, {kind.state_column}::text AS state, unreadable::text AS unreadable"
        f" FROM {kind.table} WHERE {kind.subject} = $1",
        subject,
    )
    if row is None:
        return None
    unreadable = [(event_id, why) for event_id, why in json.loads(row["unreadable"])]
    return Checkpoint(
        subject, row["folded_before"], row["events_folded"], kind.decode(subject, row["state"]), unreadable
    )


async def fold_partition(
    connection: asyncpg.Connection, kind: CheckpointKind[Any], partition: str, folded_before: datetime
) -> FoldReport:
    """Fold the applied and stale calls of `kind` in `partition` (every one finished before
    `folded_before`) into their subjects' checkpoints; one transaction per group of subjects."""
    report = FoldReport()
    after = len(kind.calls_arguments)
    subjects = [
        row[0]
        for row in await connection.fetch(
            f"SELECT DISTINCT e.{kind.subject} FROM {partition} e WHERE {kind.calls}"
            f" AND e.status = ANY(${after + 1}::text[]) AND e.call IS NOT NULL AND NOT EXISTS"
            f" (SELECT FROM {kind.table} c WHERE c.{kind.subject} = e.{kind.subject}"
            f" AND c.folded_before >= ${after + 2}) ORDER BY 1",
            *kind.calls_arguments,
            list(FOLDED_STATUSES),
            folded_before,
        )
    ]
    for group in _chunks(subjects, kind.per_group):
        async with connection.transaction():
            await _fold_group(connection, kind, partition, folded_before, group, report=report)
    return report


async def _fold_group(
    connection: asyncpg.Connection,
    kind: CheckpointKind[State],
    partition: str,
    folded_before: datetime,
    subjects: list[str],
    *,
    report: FoldReport,
) -> None:
    stored = {
        row["subject"]: row
        for row in await connection.fetch(
            f"SELECT {kind.subject} AS subject, {kind.state_column}::text AS state, events_folded,"
            f" unreadable::text AS unreadable FROM {kind.table} WHERE {kind.subject} = ANY($1::text[])",
            subjects,
        )
    }
    states = {
        subject: kind.decode(subject, stored[subject]["state"]) if subject in stored else kind.fresh(subject)
        for subject in subjects
    }
    folded = {subject: stored[subject]["events_folded"] if subject in stored else 0 for subject in subjects}
    unreadable: dict[str, list[list[str]]] = {
        subject: json.loads(stored[subject]["unreadable"]) if subject in stored else [] for subject in subjects
    }
    after = len(kind.calls_arguments)
    rows = await connection.fetch(
        f"SELECT {kind.subject} AS subject, event_id, interface, time_stamp, call::text AS call FROM {partition}"
        f" WHERE {kind.calls} AND {kind.subject} = ANY(${after + 1}::text[]) AND status = ANY(${after + 2}::text[])"
        f" AND call IS NOT NULL ORDER BY {kind.subject}, {kind.order}",
        *kind.calls_arguments,
        subjects,
        list(FOLDED_STATUSES),
    )
    for row in rows:
        try:
            kind.fold(states[row["subject"]], row)
        except InvalidCall as exc:
            unreadable[row["subject"]].append([row["event_id"], str(exc)])
            report.unreadable.append((row["event_id"], str(exc)))
            continue
        folded[row["subject"]] += 1
        report.events += 1
    await connection.execute(
        f"INSERT INTO {kind.table} ({kind.subject}, folded_before, events_folded, {kind.state_column}, unreadable,"
        " written_at) SELECT k, $2, n, s::jsonb, u::jsonb, now()"
        " FROM unnest($1::text[], $3::bigint[], $4::text[], $5::text[]) AS x(k, n, s, u)"
        f" ON CONFLICT ({kind.subject}) DO UPDATE SET folded_before = EXCLUDED.folded_before,"
        f" events_folded = EXCLUDED.events_folded, {kind.state_column} = EXCLUDED.{kind.state_column},"
        " unreadable = EXCLUDED.unreadable, written_at = EXCLUDED.written_at",
        subjects,
        folded_before,
        [folded[subject] for subject in subjects],
        [kind.encode(states[subject]) for subject in subjects],
        [json.dumps(unreadable[subject], ensure_ascii=False) for subject in subjects],
    )
    report.subjects += len(subjects)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
