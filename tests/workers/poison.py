"""A poison event: it reaches the worker, passes its validation, and can never be applied.

A department rename whose call also carries an unknown field holding Infinity. Unknown fields are
kept as they are, so the worker's validation takes the call; the `events` row that keeps it is
jsonb, which has no Infinity, so every transaction that holds the event fails with a non-retriable
error (it is the data, not the database). Its tenant's other calls are ordinary.

No gateway writes such a record (it refuses NaN and Infinity in a body, and writes a non-finite
number it could hold as null), so the tests write it straight to the events topic, where a record
from an older or foreign producer would come from. A NUL character, the vehicle before, is now
refused by the call schema, at the gateway and again by the worker's validation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from schemas.calls import AnyCall, Interface, parse_call
from schemas.envelope import EventEnvelope, KafkaRecord, encode_event
from schemas.timestamps import format_platform_time, parse_platform_time
from syncpipe.simulation.generator import PlatformCall

UNSTORABLE_FIELD = "poison"
# What Postgres refuses when the event's row is written (`invalid input syntax for type json`).
POISON_ERROR = "InvalidTextRepresentationError"
# A rename is one small record, far below any record size limit.
_MAX_RECORD_BYTES = 1024 * 1024


def poison_for(history: Sequence[PlatformCall], tenant_id: str) -> AnyCall:
    """A rename of one of the tenant's departments, timed half-way through its history.

    The call itself is valid; `poison_record` adds what makes it impossible to apply.
    """
    own = [call for call in history if call.body["tenantId"] == tenant_id]
    snapshot = next(call for call in own if call.interface is Interface.ALL_ORG_SYNC)
    listed = snapshot.body["orgInfoList"]
    departments = json.loads(listed) if isinstance(listed, str) else listed
    taken = {call.body["timeStamp"] for call in own}
    moment = parse_platform_time(own[len(own) // 2].body["timeStamp"])
    while format_platform_time(moment) in taken:
        moment += timedelta(milliseconds=1)
    body = {
        "instanceId": snapshot.body["instanceId"],
        "tenantId": tenant_id,
        "testFlag": 0,
        "timeStamp": format_platform_time(moment),
        "orgCode": departments[0]["orgCode"],
        "orgName": "R&D (poisoned)",
        "parentCode": "",
        "flag": 2,
    }
    return parse_call(Interface.SINGLE_ORG_SYNC, body)


def poison_record(call: AnyCall) -> tuple[str, KafkaRecord]:
    """The event id and the record a gateway would write for `call`, with Infinity added to the call.

    The event id is the call's own: the added field is not part of what the gateway would have hashed.
    """
    envelope = EventEnvelope.from_call(call, datetime.now(UTC))
    (record,) = encode_event(envelope, _MAX_RECORD_BYTES)
    value = json.loads(record.value)
    value["call"][UNSTORABLE_FIELD] = math.inf
    return envelope.eventId, record._replace(value=json.dumps(value).encode())  # json writes `Infinity`


async def write_poison(bootstrap_servers: str, topic: str, calls: Sequence[AnyCall]) -> list[str]:
    """Write a poison record for each call straight to `topic`, in order; return their event ids.

    Keyed by tenant like the gateway's records, so each lands on its tenant's partition.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        ids = []
        for call in calls:
            event_id, record = poison_record(call)
            delivery = await producer.send(topic, value=record.value, key=record.key, headers=record.headers)
            await delivery
            ids.append(event_id)
    finally:
        await producer.stop()
    return ids
