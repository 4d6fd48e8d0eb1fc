"""Per-instance checkpoints: every pruned call of an instance (SPEC §9), folded into one set of changes.

The instance calls' counterpart of workers/retention/checkpoints.py. An instance's state is already a
grow-only set of its distinct production calls (`InstanceState.changes`, workers/domain/instance_state.py),
so its checkpoint is that set as the pruned calls alone make it: before a day of `events` is dropped,
its applied and stale instance calls are added, with the rules the workers use, to their instance's
checkpoint. `syncpipe rebuild --instance` starts from it and adds the retained calls on top; a set
does not care about order or repeats, so the result is what a rebuild from the whole history gives.
Without it a rebuild after a prune would silently forget the instance's opening call, its release or
its orders. A call that no longer validates is listed and makes that instance's rebuild refuse.

Folding is idempotent: an instance whose checkpoint already covers a partition is skipped, and adding
a change the set holds changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import asyncpg

from schemas.exceptions import InvalidCall
from schemas.instance_calls import CHANGES, parse_instance_change
from workers.domain.instance_rules import apply_instance_change
from workers.domain.instance_state import InstanceState, LoggedChange

# The same statuses as a tenant's checkpoint and as a rebuild (workers/retention/checkpoints.py).
_FOLDED_STATUSES = ("applied", "stale")
# Instances folded per transaction: bounds the calls and states held in memory at once.
_INSTANCES_PER_GROUP = 500
# An instance call's row: its instance, no tenant (migration 0006), one of the change activities.
INSTANCE_CALL_ROW = "tenant_id = '' AND instance_id <> '' AND interface = ANY($1::text[])"


class InstanceCheckpoint(NamedTuple):
    instance_id: str
    folded_before: datetime  # every applied or stale call of the instance that finished before this is in
    events_folded: int
    changes: list[LoggedChange]
    unreadable: list[tuple[str, str]]  # (event id, why) of calls that could not be folded


@dataclass
class InstanceFoldReport:
    instances: int = 0
    events: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


async def load_instance_checkpoint(connection: asyncpg.Connection, instance_id: str) -> InstanceCheckpoint | None:
    row = await connection.fetchrow(
        "SELECT folded_before, events_folded, changes::text AS changes, unreadable::text AS unreadable"
        " FROM instance_checkpoints WHERE instance_id = $1",
        instance_id,
    )
    if row is None:
        return None
    return InstanceCheckpoint(
        instance_id,
        row["folded_before"],
        row["events_folded"],
        [LoggedChange.from_json(entry) for entry in json.loads(row["changes"])],
        [(event_id, why) for event_id, why in json.loads(row["unreadable"])],
    )


async def fold_instance_partition(
    connection: asyncpg.Connection, partition: str, folded_before: datetime
) -> InstanceFoldReport:
    """Fold the applied and stale instance calls of `partition` (every one finished before
    `folded_before`) into their instances' checkpoints; one transaction per group of instances."""
    report = InstanceFoldReport()
    instances = [
        row["instance_id"]
        for row in await connection.fetch(
            f"SELECT DISTINCT e.instance_id FROM {partition} e WHERE {INSTANCE_CALL_ROW}"
            " AND e.status = ANY($2::text[]) AND e.call IS NOT NULL AND NOT EXISTS"
            " (SELECT FROM instance_checkpoints c WHERE c.instance_id = e.instance_id AND c.folded_before >= $3)"
            " ORDER BY 1",
            sorted(CHANGES),
            list(_FOLDED_STATUSES),
            folded_before,
        )
    ]
    for group in _chunks(instances, _INSTANCES_PER_GROUP):
        async with connection.transaction():
            await _fold_group(connection, partition, folded_before, group, report)
    return report


async def _fold_group(
    connection: asyncpg.Connection,
    partition: str,
    folded_before: datetime,
    instances: list[str],
    report: InstanceFoldReport,
) -> None:
    stored = {
        row["instance_id"]: row
        for row in await connection.fetch(
            "SELECT instance_id, changes::text AS changes, events_folded, unreadable::text AS unreadable"
            " FROM instance_checkpoints WHERE instance_id = ANY($1::text[])",
            instances,
        )
    }
    states = {instance: InstanceState(instance) for instance in instances}
    folded = dict.fromkeys(instances, 0)
    unreadable: dict[str, list[list[str]]] = {instance: [] for instance in instances}
    for instance, row in stored.items():
        for entry in json.loads(row["changes"]):
            states[instance].add(LoggedChange.from_json(entry))
        folded[instance] = row["events_folded"]
        unreadable[instance] = json.loads(row["unreadable"])
    rows = await connection.fetch(
        f"SELECT instance_id, event_id, time_stamp, call::text AS call FROM {partition}"
        f" WHERE {INSTANCE_CALL_ROW} AND instance_id = ANY($2::text[]) AND status = ANY($3::text[])"
        " AND call IS NOT NULL ORDER BY instance_id, time_stamp, event_id",
        sorted(CHANGES),
        instances,
        list(_FOLDED_STATUSES),
    )
    for row in rows:
        try:
            call = parse_instance_change(json.loads(row["call"]))
        except InvalidCall as exc:
            unreadable[row["instance_id"]].append([row["event_id"], str(exc)])
            report.unreadable.append((row["event_id"], str(exc)))
            continue
        apply_instance_change(states[row["instance_id"]], row["event_id"], row["time_stamp"], call)
        folded[row["instance_id"]] += 1
        report.events += 1
    await connection.execute(
        "INSERT INTO instance_checkpoints (instance_id, folded_before, events_folded, changes, unreadable, written_at)"
        " SELECT i, $2, n, c::jsonb, u::jsonb, now()"
        " FROM unnest($1::text[], $3::bigint[], $4::text[], $5::text[]) AS x(i, n, c, u)"
        " ON CONFLICT (instance_id) DO UPDATE SET folded_before = EXCLUDED.folded_before,"
        " events_folded = EXCLUDED.events_folded, changes = EXCLUDED.changes, unreadable = EXCLUDED.unreadable,"
        " written_at = EXCLUDED.written_at",
        instances,
        folded_before,
        [folded[instance] for instance in instances],
        [
            json.dumps([change.to_json() for change in sorted(states[instance].changes.values(), key=_key)])
            for instance in instances
        ],
        [json.dumps(unreadable[instance], ensure_ascii=False) for instance in instances],
    )
    report.instances += len(instances)


def _key(change: LoggedChange) -> tuple[datetime, str]:
    return change.key


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
