"""Instance calls (SPEC §9) through the real broker and Postgres: convergence across a worker restart,
dedupe, acks, dead letters, the ready template, replay and the rebuild of one instance."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

import workers.applier.batch
import workers.applier.instance_batch
from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.instance_calls import InstanceChange, derive_instance_id, instance_of, parse_instance_change
from schemas.instance_envelope import HEADER_SUBJECT, INSTANCE_SUBJECT, InstanceEnvelope, decode_instance_record
from syncpipe.simulation.instance_model import SignedCall, expected_instances, served_instance
from tests.workers.advisory_locks import someone_waits_for_locks_of
from tests.workers.instance_histories import deliveries, lifecycles
from tests.workers.pipeline import publish_instance_calls, read_instances, running_worker, wait_for_events
from tests.workers.replay.recovery_fixtures import DiscardedLetters
from workers.applier.instance_store import lock_instances
from workers.domain.instance_rules import apply_instance_change
from workers.domain.instance_state import InstanceState
from workers.domain.instance_views import render_instance
from workers.replay.dead_letters import retry_dead_letter, waiting_ids
from workers.replay.instance_rebuild import rebuild_instance
from workers.replay.log_window import WindowSpec
from workers.replay.progress import NoProgress
from workers.replay.replay import Replayer
from workers.replay.selection import RecordFilter

pytestmark = pytest.mark.integration

GROUPS_PER_EXAMPLE = 10
T0 = 1_767_600_000_000


@pytest.fixture
def worker_settings(settings: Settings, migrated_url: str) -> Settings:
    return settings.model_copy(
        update={"database_url": SecretStr(migrated_url), "session_timeout_ms": 6000, "batch_max_records": 20}
    )


def change(at_ms: int, **body: str) -> SignedCall:
    return SignedCall(parse_instance_change(body), at_ms)


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_shuffled_duplicated_lifecycles_converge_across_a_worker_restart(
    worker_settings: Settings, migrated_url: str, data: st.DataObject
) -> None:
    calls: list[SignedCall] = []
    delivered: list[SignedCall] = []
    for _ in range(GROUPS_PER_EXAMPLE):
        history = data.draw(lifecycles(max_calls=12, prefix=f"{uuid.uuid4().hex[:8]}-"))
        calls += history
        delivered += data.draw(deliveries(history))
    delivered = data.draw(st.permutations(delivered))
    half = len(delivered) // 2

    async with running_worker(worker_settings):
        first = await publish_instance_calls(worker_settings, delivered[:half])
        await wait_for_events(migrated_url, first)
    second = await publish_instance_calls(worker_settings, delivered[half:])
    async with running_worker(worker_settings):
        statuses = await wait_for_events(migrated_url, first + second, timeout_s=120)

    expected = expected_instances(calls)
    stored = await read_instances(migrated_url, expected)
    assert {instance: served_instance(render_instance(state)) for instance, state in stored.items()} == expected
    assert set(statuses.values()) <= {"applied", "stale", "test"}
    connection = await asyncpg.connect(migrated_url)
    try:
        owed = await connection.fetchval(
            "SELECT count(DISTINCT event_id) FROM ack_outbox WHERE event_id = ANY($1::text[])", first + second
        )
        rows = await connection.fetch(
            "SELECT tenant_id, instance_id, interface FROM events WHERE event_id = ANY($1::text[])", first + second
        )
    finally:
        await connection.close()
    assert owed == len(set(first + second))  # every finished event owes its ack
    assert {row["tenant_id"] for row in rows} == {""}
    assert {row["instance_id"] for row in rows} == {instance_of(signed.call) for signed in calls}


async def test_the_ready_template_provisions_new_instances_and_a_broken_record_is_dead_lettered(
    worker_settings: Settings, migrated_url: str
) -> None:
    settings_ = worker_settings.model_copy(update={"instance_ready_url_template": "https://app.example/i/{instanceId}"})
    order = (f"CS-{uuid.uuid4().hex[:8]}", "line-1")
    instance = derive_instance_id(*order)
    await ensure_topics(settings_)
    producer = AIOKafkaProducer(bootstrap_servers=settings_.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        # An instance record that is not an envelope: dead-lettered, its tenant empty, its instance the key.
        await producer.send_and_wait(
            settings_.events_topic,
            b"{not json",
            key=instance.encode(),
            headers=[(HEADER_SUBJECT, INSTANCE_SUBJECT), ("syncpipe-event-id", b"broken-" + uuid.uuid4().hex.encode())],
        )
    finally:
        await producer.stop()
    async with running_worker(settings_):
        ids = await publish_instance_calls(
            settings_,
            [
                change(T0 + 1, activity="updateInstanceStatus", instanceId=instance, status="FREEZE"),
                change(T0 + 2, activity="newInstance", orderId=order[0], orderLineId=order[1], businessId="b"),
            ],
        )
        statuses = await wait_for_events(migrated_url, ids)
    assert list(statuses.values()) == ["applied", "applied"]
    state = (await read_instances(migrated_url, [instance]))[instance]
    shown = render_instance(state)
    assert (shown["status"], shown["appInfo"]["frontEndUrl"]) == ("frozen", f"https://app.example/i/{instance}")
    connection = await asyncpg.connect(migrated_url)
    try:
        letter = await connection.fetchrow("SELECT tenant_id, interface, reason FROM dead_letters")
        row = await connection.fetchrow(
            "SELECT tenant_id, instance_id, status FROM events WHERE event_id LIKE 'broken-%'"
        )
    finally:
        await connection.close()
    assert letter is not None
    assert (letter["tenant_id"], "not a JSON object" in letter["reason"]) == ("", True)
    assert row is not None
    assert dict(row) == {"tenant_id": "", "instance_id": instance, "status": "dead_lettered"}


async def test_replay_restores_lost_instance_calls_and_rebuild_repairs_a_damaged_instance(
    worker_settings: Settings, migrated_url: str, connection: asyncpg.Connection
) -> None:
    order = (f"CS-{uuid.uuid4().hex[:8]}", "line-1")
    instance = derive_instance_id(*order)
    renew = {"scene": "RENEWAL", "orderId": order[0], "orderLineId": order[1]}
    calls = [
        change(T0 + 10, activity="newInstance", orderId=order[0], orderLineId=order[1]),
        change(T0 + 20, activity="refreshInstance", instanceId=instance, expireTime="20270101000000", **renew),
        change(T0 + 30, activity="upgradeInstance", instanceId=instance, orderId="CS-UP", orderLineId="CS-UP-1"),
        change(T0 + 40, activity="refreshInstance", instanceId=instance, expireTime="20280101000000", **renew),
    ]
    other = derive_instance_id(f"CS-{uuid.uuid4().hex[:8]}", "line-1")
    other_renewal = change(T0 + 50, activity="refreshInstance", instanceId=other, expireTime="20290101000000", **renew)
    async with running_worker(worker_settings):
        ids = await publish_instance_calls(worker_settings, [*calls, other_renewal])
        await wait_for_events(migrated_url, ids)
    expected = expected_instances(calls)[instance]

    # A restored backup: the instance and its last two events are gone (another instance's renewal too);
    # the replay of this one instance brings its own back, and only those.
    await connection.execute("DELETE FROM instances")
    await connection.execute("DELETE FROM events WHERE event_id = ANY($1::text[])", ids[2:])
    replayer = Replayer(connection, worker_settings, DiscardedLetters(), NoProgress())
    spec = WindowSpec(since=datetime(2000, 1, 1, tzinfo=UTC))
    selected = RecordFilter(
        interfaces=frozenset({"refreshInstance", "upgradeInstance"}), instances=frozenset({instance})
    )
    report = await replayer.run(spec, selected, dry_run=False)
    assert (report.applied, sum(report.already_had.values())) == (2, 1)
    assert await connection.fetchval("SELECT count(*) FROM events WHERE event_id = $1", ids[-1]) == 0
    # The instance row was lost with the calls before them: rebuild from the archive brings it all back.
    rebuilt = await rebuild_instance(connection, instance, dry_run=False, progress=NoProgress())
    assert served_instance(rebuilt.after) == expected
    assert sum(rebuilt.events_used.values()) == 4

    await connection.execute(
        "UPDATE instances SET expire_time = '19990101000000', changes = $2::jsonb WHERE instance_id = $1",
        instance,
        json.dumps([]),
    )
    dry = await rebuild_instance(connection, instance, dry_run=True, progress=NoProgress())
    assert "expireTime" in dry.changed
    assert await connection.fetchval("SELECT expire_time FROM instances WHERE instance_id = $1", instance) == (
        "19990101000000"
    )
    again = await rebuild_instance(connection, instance, dry_run=False, progress=NoProgress())
    assert served_instance(again.after) == expected
    stored = (await read_instances(migrated_url, [instance]))[instance]
    assert served_instance(render_instance(stored)) == expected


def crashing_on(instance: str) -> Callable[[InstanceState, str, datetime, InstanceChange], Any]:
    """The instance rules of a release with a bug that crashes on every call of one instance."""

    def apply(state: InstanceState, event_id: str, version: datetime, call: InstanceChange) -> Any:
        if instance_of(call) == instance:
            raise RuntimeError("an instance rule crashed on this instance")
        return apply_instance_change(state, event_id, version, call)

    return apply


async def test_instance_calls_a_rule_crashes_on_are_dead_lettered_acked_and_retried_to_applied(
    worker_settings: Settings, migrated_url: str, connection: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing, healthy = (f"CS-{uuid.uuid4().hex[:8]}", "line-1"), (f"CS-{uuid.uuid4().hex[:8]}", "line-1")
    crashing_id, healthy_id = derive_instance_id(*crashing), derive_instance_id(*healthy)
    calls = [
        change(T0 + 1, activity="newInstance", orderId=crashing[0], orderLineId=crashing[1], businessId="b1"),
        change(T0 + 2, activity="updateInstanceStatus", instanceId=crashing_id, status="FREEZE"),
        change(T0 + 3, activity="newInstance", orderId=healthy[0], orderLineId=healthy[1], businessId="b2"),
    ]
    with monkeypatch.context() as buggy_release:
        buggy_release.setattr(workers.applier.instance_batch, "apply_instance_change", crashing_on(crashing_id))
        async with running_worker(worker_settings.model_copy(update={"max_attempts": 1})):
            ids = await publish_instance_calls(worker_settings, calls)
            statuses = await wait_for_events(migrated_url, ids)
    assert [statuses[event] for event in ids] == ["dead_lettered", "dead_lettered", "applied"]
    letters = await connection.fetch("SELECT event_id, tenant_id, reason FROM dead_letters ORDER BY dead_letter_id")
    assert {row["event_id"] for row in letters} == set(ids[:2])
    assert all(row["tenant_id"] == "" and "an instance rule crashed" in row["reason"] for row in letters)
    assert set(await read_instances(migrated_url, [crashing_id, healthy_id])) == {healthy_id}

    # The fixed release: each letter, retried in the order it was consumed, is applied; `dlq retry` reads
    # the ready template, so the retried newInstance opens a ready instance (the worker had none).
    template = "https://app.example/retried/{instanceId}"
    retried = [
        await retry_dead_letter(connection, letter, dry_run=False, ready_url_template=template)
        for letter in await waiting_ids(connection)
    ]
    assert sorted((outcome.event_id, outcome.result) for outcome in retried) == sorted(
        (event, "applied") for event in ids[:2]
    )
    stored = await read_instances(migrated_url, [crashing_id, healthy_id])
    assert {instance: served_instance(render_instance(state)) for instance, state in stored.items()} == (
        expected_instances(calls, ready={crashing_id})
    )
    assert (
        render_instance(stored[crashing_id])["appInfo"]["frontEndUrl"] == f"https://app.example/retried/{crashing_id}"
    )
    # The platform heard "dead_lettered" first; the retry owes it the new outcome too.
    for event in ids[:2]:
        acked = await connection.fetch(
            "SELECT body->>'status' AS status FROM ack_outbox WHERE event_id = $1 ORDER BY ack_id", event
        )
        assert [row["status"] for row in acked] == ["dead_lettered", "applied"], event
    assert await waiting_ids(connection) == []


def decoder_crashing_on(instance: str) -> Callable[[bytes], InstanceEnvelope]:
    """The instance decoder of a release with a bug that crashes on every record of one instance: its
    records fail before the batch takes any instance lock, so only the dead-lettering takes one."""

    def decode(value: bytes) -> InstanceEnvelope:
        envelope = decode_instance_record(value)
        if envelope.instanceId == instance:
            raise RuntimeError("the instance decoder crashed on this instance")
        return envelope

    return decode


async def test_an_instance_record_that_fails_is_dead_lettered_under_its_instance_lock(
    worker_settings: Settings, migrated_url: str, connection: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = (f"CS-{uuid.uuid4().hex[:8]}", "line-1")
    instance = derive_instance_id(*order)
    monkeypatch.setattr(workers.applier.batch, "decode_instance_record", decoder_crashing_on(instance))
    # Another writer of the instance (a rebuild, a `dlq retry`, the read API's appInfo) holds its lock.
    holder = await asyncpg.connect(migrated_url)
    holding = holder.transaction()
    await holding.start()
    try:
        await lock_instances(holder, [instance])
        held_by = await holder.fetchval("SELECT pg_backend_pid()")
        async with running_worker(worker_settings.model_copy(update={"max_attempts": 1})):
            (event,) = await publish_instance_calls(
                worker_settings,
                [change(T0 + 1, activity="newInstance", orderId=order[0], orderLineId=order[1], businessId="b")],
            )
            # Until the dead-lettering queues behind the held lock, or (the bug) writes without it.
            waiting, deadline = False, time.monotonic() + 60
            while not waiting and time.monotonic() < deadline:
                waiting = await someone_waits_for_locks_of(connection, held_by)
                if await connection.fetchval("SELECT count(*) FROM events WHERE event_id = $1", event):
                    break
                await asyncio.sleep(0.1)
            written_while_held = (
                await connection.fetchval("SELECT count(*) FROM events WHERE event_id = $1", event),
                await connection.fetchval("SELECT count(*) FROM dead_letters WHERE event_id = $1", event),
            )
            assert written_while_held == (0, 0), "dead-lettered while another writer held the instance lock"
            assert waiting, "the dead-lettering never waited for the instance lock"
            await holding.rollback()
            statuses = await wait_for_events(migrated_url, [event])
    finally:
        if holder.is_in_transaction():
            await holding.rollback()
        await holder.close()
    assert statuses == {event: "dead_lettered"}
    letters = await connection.fetch("SELECT tenant_id, reason FROM dead_letters WHERE event_id = $1", event)
    assert [(row["tenant_id"], "the instance decoder crashed" in row["reason"]) for row in letters] == [("", True)]
    rows = await connection.fetch("SELECT tenant_id, instance_id FROM events WHERE event_id = $1", event)
    assert [tuple(row) for row in rows] == [("", instance)]
