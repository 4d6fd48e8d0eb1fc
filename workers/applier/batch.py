"""One batch of consumed records, applied in one Postgres transaction.

The order of work, written down once:
 1. decode every record; an unreadable one is to be dead-lettered with its reason (step 8); instance
    calls (SPEC §9, their own `syncpipe-subject` header) go their own way, step 7;
 2. store parts of large envelopes and assemble every upload that is now complete;
 3. lock the batch's tenants (workers never interleave on a tenant, even a zombie after a rebalance),
    with those of its unreadable sync records;
 4. split records into new events, re-sent duplicates and redeliveries of the same record,
    using the `events` table (the dedupe record) and the batch itself;
 5. validate each new event's call again (a call that fails is dead-lettered, its row archiving
    no call, the rest go on);
 6. load the records the calls need, run the rules in partition order, save the changes;
 7. the instance calls: steps 3 to 6 on instances (workers/applier/instance_batch.py), whose lock
    covers the instances of the unreadable instance records too;
 8. look the unreadable records' events up, now under their subjects' locks: a redelivery of the record
    that dead-lettered its event changes nothing, one whose event has its row keeps it;
    insert one `events` row per new event with its final status, count duplicates, and one
    ack row per finished event (the outbox of workers/acks: the ack commits with the event);
 9. hand dead letters to the sink (the dead-letter topic) before the transaction commits.
Kafka offsets are committed by the caller, only after this returns. Everything the batch writes is
stamped with one instant, the transaction's `now()` unless the caller gives one (the soak benchmark's
compressed clock): its events' `finished_at` and its acks' `created_at`, the keys the history tables
are partitioned and pruned by (docs/retention.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

import asyncpg

from runtime.tracing import traceparent_of
from schemas.envelope import EnvelopePart, EventEnvelope, decode_record
from schemas.exceptions import InvalidCall, MalformedEnvelope
from schemas.instance_envelope import InstanceEnvelope, decode_instance_record, is_instance_record
from schemas.timestamps import parse_platform_time
from workers.acks.outbox import enqueue_acks
from workers.applier.dead_letter_archive import store_dead_letters
from workers.applier.event_log import find_known_events, record_duplicates, record_events
from workers.applier.instance_batch import apply_instance_events
from workers.applier.records import ConsumedRecord, DeadLetter, DeadLetterSink
from workers.applier.state_store import load_states, lock_tenants, save_changes
from workers.applier.uploads import collect_uploads
from workers.domain.keys import StateKeys
from workers.domain.rules import apply_call
from workers.outcomes import EventStatus, FinishedEvent


@dataclass
class BatchResult:
    finished: list[FinishedEvent] = field(default_factory=list)
    redeliveries: int = 0
    parts_waiting: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


def _time_stamp(envelope: EventEnvelope) -> datetime | None:
    try:
        return parse_platform_time(envelope.timeStamp)
    except ValueError:
        return None


def finished_event(
    record: ConsumedRecord, envelope: EventEnvelope, status: EventStatus, reason: str | None = None
) -> FinishedEvent:
    time_stamp = _time_stamp(envelope)
    return FinishedEvent(
        event_id=envelope.eventId,
        tenant_id=envelope.tenantId,
        instance_id=envelope.instanceId,
        interface=envelope.interface.value,
        status=status,
        reason=reason,
        time_stamp=time_stamp,
        test_flag=envelope.testFlag,
        accepted_at=envelope.acceptedAt,
        partition=record.partition,
        offset=record.offset,
        call=envelope.call,
        trace_parent=traceparent_of(record.headers),
    )


def undecodable_event(record: ConsumedRecord, reason: str) -> FinishedEvent:
    headers = dict(record.headers)
    event_id = headers.get("syncpipe-event-id", b"").decode(errors="replace") or record.synthetic_event_id()
    # The key names the tenant of a sync call, the instance of an instance call.
    key = (record.key or b"").decode(errors="replace")
    instance = is_instance_record(record.headers)
    return FinishedEvent(
        event_id=event_id,
        tenant_id="" if instance else key,
        instance_id=key if instance else "",
        interface=headers.get("syncpipe-interface", b"unknown").decode(errors="replace"),
        status=EventStatus.DEAD_LETTERED,
        reason=reason,
        time_stamp=None,
        test_flag=0,
        accepted_at=None,
        partition=record.partition,
        offset=record.offset,
        call=None,
        trace_parent=traceparent_of(record.headers),
    )


async def apply_batch(
    connection: asyncpg.Connection,
    records: Sequence[ConsumedRecord],
    dead_letters: DeadLetterSink,
    *,
    ready_url_template: str | None = None,
    finished_at: datetime | None = None,
) -> BatchResult:
    """`ready_url_template`: SYNCPIPE_INSTANCE_READY_URL_TEMPLATE, for new instances (None: none);
    `finished_at`: the instant to stamp the batch with (None: the transaction's `now()`)."""
    result = BatchResult()
    async with connection.transaction():
        now: datetime = finished_at or await connection.fetchval("SELECT now()")
        decoded = _decode(records)
        envelopes, parts, unreadable = decoded.envelopes, decoded.parts, decoded.unreadable
        if parts:
            uploads = await collect_uploads(connection, parts, now)
            result.parts_waiting = uploads.waiting
            result.redeliveries += uploads.redelivered
            envelopes = sorted(envelopes + uploads.assembled, key=lambda item: item[0])
            unreadable += [(record, undecodable_event(record, reason)) for record, reason in uploads.broken]
        # An unreadable record's event names its subject as `undecodable_event` reads it from the record.
        unreadable_tenants = {event.tenant_id for _, event in unreadable if not event.instance_id}
        unreadable_instances = {event.instance_id for _, event in unreadable if event.instance_id}

        await lock_tenants(connection, sorted({envelope.tenantId for _, _, envelope in envelopes} | unreadable_tenants))
        known = await find_known_events(
            connection, [(envelope.eventId, _time_stamp(envelope)) for _, _, envelope in envelopes], now
        )

        fresh = _new_events(envelopes, known, result)

        calls = []
        for record, envelope in fresh:
            try:
                calls.append((record, envelope, envelope.parsed_call()))
            except InvalidCall as exc:
                # Its row archives no call: a refused call may hold what jsonb refuses (a NUL), which
                # would fail the whole batch. The record itself is kept, raw, with its dead letter.
                refused = finished_event(record, envelope, EventStatus.DEAD_LETTERED, str(exc))
                _dead_letter(result, replace(refused, call=None), record, envelope)

        keys: dict[str, StateKeys] = {}
        for _, envelope, call in calls:
            keys.setdefault(envelope.tenantId, StateKeys()).add(call)
        states = await load_states(connection, keys)
        for record, envelope, call in calls:
            outcome = apply_call(states[envelope.tenantId], call)
            result.finished.append(finished_event(record, envelope, EventStatus(outcome.value)))
        await save_changes(connection, {tenant: state.changes() for tenant, state in states.items()})

        instances = await apply_instance_events(
            connection,
            decoded.instances,
            now,
            ready_url_template=ready_url_template,
            unreadable_instances=unreadable_instances,
        )
        result.finished += instances.finished
        result.redeliveries += instances.redeliveries
        for refused, record in instances.refused:
            _dead_letter(result, refused, record)

        duplicates = [event for event in result.finished if event.status is EventStatus.DUPLICATE]
        new_events = [event for event in result.finished if event.status is not EventStatus.DUPLICATE]
        new_events += await _dead_letter_unreadable(connection, unreadable, now, result)
        await record_events(connection, new_events, now)
        await record_duplicates(connection, duplicates, now)
        await enqueue_acks(connection, result.finished, now)
        if result.dead_letters:
            await store_dead_letters(connection, result.dead_letters)
            await dead_letters.send(result.dead_letters)
    return result


class _Decoded(NamedTuple):
    envelopes: list[tuple[int, ConsumedRecord, EventEnvelope]]  # (batch position, record, envelope)
    parts: list[tuple[int, ConsumedRecord, EnvelopePart]]
    instances: list[tuple[ConsumedRecord, InstanceEnvelope]]
    unreadable: list[tuple[ConsumedRecord, FinishedEvent]]  # to dead-letter, with the reason


def _decode(records: Sequence[ConsumedRecord]) -> _Decoded:
    """Step 1: every record decoded, or its dead-lettered event with the reason it is not readable."""
    decoded = _Decoded([], [], [], [])
    for position, record in enumerate(records):
        try:
            if is_instance_record(record.headers):
                decoded.instances.append((record, decode_instance_record(record.value)))
                continue
            envelope = decode_record(record.key, record.value, record.headers)
        except MalformedEnvelope as exc:
            decoded.unreadable.append((record, undecodable_event(record, str(exc))))
            continue
        if isinstance(envelope, EnvelopePart):
            decoded.parts.append((position, record, envelope))
        else:
            decoded.envelopes.append((position, record, envelope))
    return decoded


def _new_events(
    envelopes: Sequence[tuple[int, ConsumedRecord, EventEnvelope]],
    known: dict[str, tuple[int, int]],
    result: BatchResult,
) -> list[tuple[ConsumedRecord, EventEnvelope]]:
    """The envelopes of events not recorded before; the others are counted as redeliveries (the
    record that finished the event, read again) or finished as duplicates (another record of it)."""
    fresh: list[tuple[ConsumedRecord, EventEnvelope]] = []
    for _, record, envelope in envelopes:
        first = known.get(envelope.eventId)
        if first == (record.partition, record.offset):
            result.redeliveries += 1
        elif first is not None:
            result.finished.append(finished_event(record, envelope, EventStatus.DUPLICATE))
        else:
            known[envelope.eventId] = (record.partition, record.offset)
            fresh.append((record, envelope))
    return fresh


async def _dead_letter_unreadable(
    connection: asyncpg.Connection,
    unreadable: Sequence[tuple[ConsumedRecord, FinishedEvent]],
    now: datetime,
    result: BatchResult,
) -> list[FinishedEvent]:
    """Step 8 for the unreadable records, under their subjects' locks: each is dead-lettered (ahead of
    the batch's other outcomes, in its order) unless it is a redelivery of the record that already
    dead-lettered its event; returns the events with no row yet, the ones to record.

    Looked up with no time (every partition): an unreadable record has no timeStamp to trust, and
    such records are few."""
    if not unreadable:
        return []
    known = await find_known_events(connection, [(event.event_id, None) for _, event in unreadable], now)
    letters, to_record = BatchResult(), []
    for record, event in unreadable:
        first = known.get(event.event_id)
        if first == (record.partition, record.offset):
            result.redeliveries += 1
            continue
        if first is None:
            known[event.event_id] = (record.partition, record.offset)
            to_record.append(event)
        _dead_letter(letters, event, record)
    result.finished[:0] = letters.finished
    result.dead_letters[:0] = letters.dead_letters
    return to_record


def _dead_letter(
    result: BatchResult, event: FinishedEvent, record: ConsumedRecord, envelope: EventEnvelope | None = None
) -> None:
    result.finished.append(event)
    result.dead_letters.append(DeadLetter(event.event_id, event.tenant_id, event.reason or "", record, envelope))
