"""A poison event in the middle of a large batch, on the real broker and Postgres.

It is isolated by splitting the failing batch in halves (a few transactions, not one per record),
dead-lettered with its reason after `max_attempts` failures on its own, and never retried in a way
that makes the other tenants of its batch wait for backoffs. Its tenant's later events apply without
it, after it: the final state of every tenant equals the model of SPEC §5 without the poisoned call.
The poison is written straight to the topic, as no gateway would (`tests/workers/poison.py`).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import SecretStr

from gateway.publisher import KafkaEventPublisher
from runtime.settings import Settings
from schemas.calls import parse_call
from schemas.envelope import EventEnvelope, encode_event
from schemas.timestamps import parse_platform_time
from syncpipe.simulation.generator import WorkloadSizes, generate_history
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.workers.pipeline import publish, read_snapshot, running_worker, wait_for_events
from tests.workers.poison import POISON_ERROR, poison_for, write_poison
from workers.applier.batch import BatchResult

pytestmark = pytest.mark.integration

NUL_REFUSED = "orgName: contains a NUL character (\\u0000), which cannot be stored"


@pytest.fixture
def one_partition(settings: Settings, database_url: str) -> Settings:
    """Every tenant on one partition, and a batch large enough to hold the whole history."""
    return settings.model_copy(
        update={
            "database_url": SecretStr(database_url),
            "session_timeout_ms": 6000,
            "topic_partitions": 1,
            "batch_max_records": 1000,
            "max_attempts": 3,
        }
    )


async def test_a_poison_event_is_isolated_in_a_few_transactions_and_its_tenant_converges_without_it(
    one_partition: Settings, database_url: str
) -> None:
    history = generate_history(seed=5, tenants=6, sizes=WorkloadSizes(6, 6, 15))
    tenant = str(history[0].body["tenantId"])
    calls = [parse_call(call.interface, call.body) for call in history]
    middle = len(calls) // 2
    # Published before the worker starts, so that one batch holds it all, the poison in the middle.
    assert one_partition.kafka_bootstrap_servers is not None
    before = await publish(one_partition, calls[:middle])
    (poison_id,) = await write_poison(
        one_partition.kafka_bootstrap_servers, one_partition.events_topic, [poison_for(history, tenant)]
    )
    ids = [*before, poison_id, *await publish(one_partition, calls[middle:])]

    committed: list[BatchResult] = []

    async def observe(result: BatchResult) -> None:
        committed.append(result)

    async with running_worker(one_partition, observe):
        started = time.monotonic()
        statuses = await wait_for_events(database_url, ids)
        elapsed = time.monotonic() - started
    connection = await asyncpg.connect(database_url)
    try:
        reason = await connection.fetchval("SELECT reason FROM events WHERE event_id = $1", poison_id)
    finally:
        await connection.close()

    print(f"\n{len(ids)} events with one poison: {len(committed)} transactions committed, {elapsed:.2f} s")
    assert statuses.pop(poison_id) == "dead_lettered"
    assert reason.startswith("failed 3 times:")
    assert POISON_ERROR in reason, reason  # jsonb has no Infinity
    assert set(statuses.values()) <= {"applied", "stale", "test"}
    # One half of each split commits, the other holds the poison; then its dead letter, then the rest.
    assert len(committed) <= math.ceil(math.log2(len(ids))) + 2
    expected = expected_state(calls)
    for tenant_id in sorted({call.tenantId for call in calls}):
        assert await read_snapshot(database_url, tenant_id) == expected.get(tenant_id, TenantSnapshot()), tenant_id


@pytest.mark.parametrize("record_bytes", [None, 1024], ids=["one-record", "in-parts"])
async def test_an_event_holding_a_nul_stored_before_the_gateway_refused_it_is_dead_lettered(
    one_partition: Settings, database_url: str, record_bytes: int | None
) -> None:
    """Records written before the call schema refused NUL are still in the topic: the worker's
    validation refuses them too, with its own reason at the first attempt, keeps the raw record in
    `dead_letters` (an upload that came in parts, whole), and their tenant converges without them."""
    history = generate_history(seed=6, tenants=2, sizes=WorkloadSizes(4, 4, 8))
    tenant = str(history[0].body["tenantId"])
    calls = [parse_call(call.interface, call.body) for call in history]
    rename = poison_for(history, tenant)
    stored = EventEnvelope.from_call(rename, datetime.now(UTC))
    stored = stored.model_copy(update={"call": {**stored.call, "orgName": "R&D\x00", "note": "n" * 2000}})
    ids = await publish(one_partition, calls)
    parts = one_partition.model_copy(update={"max_record_bytes": record_bytes or one_partition.max_record_bytes})
    async with KafkaEventPublisher(parts) as publisher:
        await publisher.publish(encode_event(stored, parts.max_record_bytes))

    async with running_worker(one_partition):
        statuses = await wait_for_events(database_url, [*ids, stored.eventId])
    connection = await asyncpg.connect(database_url)
    try:
        event = await connection.fetchrow(
            "SELECT reason, call, time_stamp FROM events WHERE event_id = $1", stored.eventId
        )
        letter = await connection.fetchrow(
            "SELECT reason, failures, record_value, joined_parts FROM dead_letters WHERE event_id = $1",
            stored.eventId,
        )
    finally:
        await connection.close()

    # The validation's reason, not the database's: the event's row keeps no call (jsonb would refuse
    # the NUL, and the record would fail on its own until max_attempts with the database's reason).
    assert statuses.pop(stored.eventId) == "dead_lettered"
    assert event["reason"] == NUL_REFUSED
    assert (event["call"], event["time_stamp"]) == (None, parse_platform_time(stored.timeStamp))
    assert (letter["reason"], letter["failures"], letter["joined_parts"]) == (NUL_REFUSED, 1, bool(record_bytes))
    assert EventEnvelope.model_validate_json(letter["record_value"]) == stored
    assert set(statuses.values()) <= {"applied", "stale", "test"}
    expected = expected_state(calls)
    for tenant_id in sorted({call.tenantId for call in calls}):
        assert await read_snapshot(database_url, tenant_id) == expected.get(tenant_id, TenantSnapshot()), tenant_id
