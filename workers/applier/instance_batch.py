"""The instance calls of a batch (SPEC §9), applied inside the batch's transaction.

The same order of work as the sync calls' half of `apply_batch`, on instances instead of tenants:
 1. lock the batch's instances, with those of its unreadable instance records (two workers never
    interleave on one, nor a worker and the read API; one statement, so locks are taken in one order);
 2. split records into new events, re-sent duplicates and redeliveries (the `events` table, looked up
    as for sync calls by event id and signing time under the instances' lock, and the batch);
 3. validate each new event's call again (one that fails is dead-lettered, the rest go on);
 4. load the instances, run the rules in partition order, give new instances the ready template's
    appInfo when one is configured, save them.
The caller records the events, their acks and dead letters with the sync calls' ones, in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import asyncpg

from schemas.exceptions import InvalidCall
from schemas.instance_envelope import InstanceEnvelope
from workers.applier.event_log import find_known_events
from workers.applier.instance_store import load_instances, lock_instances, save_instances
from workers.applier.records import ConsumedRecord
from workers.domain.instance_rules import apply_instance_change, provision_from_template
from workers.outcomes import EventStatus, FinishedEvent


@dataclass
class InstanceBatchResult:
    finished: list[FinishedEvent] = field(default_factory=list)  # applied, stale, test, duplicate
    refused: list[tuple[FinishedEvent, ConsumedRecord]] = field(default_factory=list)  # to dead-letter
    redeliveries: int = 0


def finished_instance_event(
    record: ConsumedRecord, envelope: InstanceEnvelope, status: EventStatus, reason: str | None = None
) -> FinishedEvent:
    """An instance event's row: no tenant, the signing time as its version."""
    return FinishedEvent(
        event_id=envelope.eventId,
        tenant_id="",
        instance_id=envelope.instanceId,
        interface=envelope.activity.value,
        status=status,
        reason=reason,
        time_stamp=envelope.version,
        test_flag=envelope.testFlag,
        accepted_at=envelope.acceptedAt,
        partition=record.partition,
        offset=record.offset,
        call=envelope.call,
    )


async def apply_instance_events(
    connection: asyncpg.Connection,
    envelopes: Sequence[tuple[ConsumedRecord, InstanceEnvelope]],
    now: datetime,
    *,
    ready_url_template: str | None,
    unreadable_instances: Collection[str] = (),
) -> InstanceBatchResult:
    """Apply `envelopes` (in partition order) in the caller's transaction; `now`: the batch's instant;
    `unreadable_instances`: the instances of the batch's unreadable records, to lock with the others
    (the caller dead-letters those records)."""
    result = InstanceBatchResult()
    await lock_instances(connection, {envelope.instanceId for _, envelope in envelopes} | set(unreadable_instances))
    if not envelopes:
        return result
    known = await find_known_events(
        connection, [(envelope.eventId, envelope.version) for _, envelope in envelopes], now
    )
    fresh = []
    for record, envelope in envelopes:
        first = known.get(envelope.eventId)
        if first == (record.partition, record.offset):
            result.redeliveries += 1
        elif first is not None:
            result.finished.append(finished_instance_event(record, envelope, EventStatus.DUPLICATE))
        else:
            known[envelope.eventId] = (record.partition, record.offset)
            try:
                fresh.append((record, envelope, envelope.parsed_call()))
            except InvalidCall as exc:
                # As for a sync call: its row archives no call, whatever it holds.
                refused = finished_instance_event(record, envelope, EventStatus.DEAD_LETTERED, str(exc))
                result.refused.append((replace(refused, call=None), record))

    states = await load_instances(connection, {envelope.instanceId for _, envelope, _ in fresh})
    for record, envelope, call in fresh:
        outcome = apply_instance_change(states[envelope.instanceId], envelope.eventId, envelope.version, call)
        result.finished.append(finished_instance_event(record, envelope, EventStatus(outcome.value)))
    if ready_url_template is not None:
        now = datetime.now(UTC)
        for state in states.values():
            provision_from_template(state, ready_url_template, now)
    await save_instances(connection, states.values())
    return result
