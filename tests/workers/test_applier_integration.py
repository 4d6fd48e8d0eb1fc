"""The worker on the real broker and a real Postgres."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.calls import parse_call
from schemas.envelope import HEADER_EVENT_ID, HEADER_VERSION
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.workers.pipeline import publish, read_snapshot, running_worker, wait_for_events

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_settings(settings: Settings, database_url: str) -> Settings:
    return settings.model_copy(update={"database_url": SecretStr(database_url), "session_timeout_ms": 6000})


def calls_of(tenant: str) -> list:  # type: ignore[type-arg]
    def call(interface: str, ts: str, **fields: object):  # type: ignore[no-untyped-def]
        return parse_call(interface, {"tenantId": tenant, "timeStamp": f"2026010100000{ts}", **fields})

    return [
        call(
            "allOrgSync",
            "0100",
            orgInfoList=[{"orgCode": "A", "orgName": "研发部"}, {"orgCode": "B", "parentCode": "A"}],
        ),
        call("tenantSync", "0200", flag=1, name="Acme", tenantCode="acme"),
        call("applicationSync", "0300", flag=1, appId="app1", clientId="c1", clientSecret="s"),
        call("singleOrgSync", "0050", flag=1, orgCode="OLD", orgName="older than the snapshot"),
        call("singleOrgSync", "0400", flag=1, orgCode="C", orgName="orphan", parentCode="NOPE"),
        call("authSync", "0500", flag=1, appId="app1", userList=[{"userName": "zs", "name": "张三", "orgCode": "B"}]),
        call("tenantSync", "0600", flag=2, name="Acme Ltd", tenantCode="acme", testFlag=1),
    ]


async def test_the_five_calls_apply_out_of_order_and_duplicates_apply_once(
    worker_settings: Settings, database_url: str
) -> None:
    calls = calls_of("t-int-1")
    late_and_older = parse_call(
        "singleOrgSync", {"tenantId": "t-int-1", "timeStamp": "20260101000000060", "flag": 1, "orgCode": "LATE"}
    )
    delivered = [*reversed(calls), *calls[:3], late_and_older]
    async with running_worker(worker_settings):
        ids = await publish(worker_settings, delivered)
        statuses = await wait_for_events(database_url, ids)

    assert await read_snapshot(database_url, "t-int-1") == expected_state([*calls, late_and_older])["t-int-1"]
    assert sorted(statuses.values()).count("test") == 1
    assert statuses[ids[3]] == "applied"  # came before the full sync, which then dropped it
    assert statuses[ids[-1]] == "stale"  # came after the full sync it predates
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM events") == len(calls) + 1
        assert await connection.fetchval("SELECT sum(duplicates) FROM events") == 3
    finally:
        await connection.close()


async def test_a_worker_restart_in_the_middle_loses_nothing_and_doubles_nothing(
    worker_settings: Settings, database_url: str
) -> None:
    tenants = [f"t-restart-{n}" for n in range(5)]
    calls = [call for tenant in tenants for call in calls_of(tenant)]
    async with running_worker(worker_settings):
        first = await publish(worker_settings, calls[::2])
        await wait_for_events(database_url, first)
    second = await publish(worker_settings, calls[1::2] + calls[:5])
    async with running_worker(worker_settings):
        await wait_for_events(database_url, first + second)
    expected = expected_state(calls)
    for tenant in tenants:
        assert await read_snapshot(database_url, tenant) == expected.get(tenant, TenantSnapshot())


async def test_bad_events_are_dead_lettered_with_a_reason_and_later_events_still_apply(
    worker_settings: Settings, database_url: str
) -> None:
    await ensure_topics(worker_settings)
    producer = AIOKafkaProducer(bootstrap_servers=worker_settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        future_version = [(HEADER_VERSION, b"99"), (HEADER_EVENT_ID, b"ev-future")]
        await producer.send_and_wait(worker_settings.events_topic, b"{}", key=b"t-bad", headers=future_version)
        invalid = (
            b'{"envelopeVersion":1,"eventId":"ev-invalid","interface":"singleOrgSync","tenantId":"t-bad",'
            b'"instanceId":"","timeStamp":"20260101000000100","testFlag":0,"acceptedAt":"2026-01-01T00:00:00Z",'
            b'"call":{"tenantId":"t-bad","timeStamp":"20260101000000100","flag":1}}'
        )
        await producer.send_and_wait(worker_settings.events_topic, invalid, key=b"t-bad")
        await producer.send_and_wait(worker_settings.events_topic, b"not json", key=b"t-bad")
    finally:
        await producer.stop()
    later = parse_call(
        "singleOrgSync", {"tenantId": "t-bad", "timeStamp": "20260101000000200", "flag": 1, "orgCode": "X"}
    )
    async with running_worker(worker_settings):
        [later_id] = await publish(worker_settings, [later])
        statuses = await wait_for_events(database_url, ["ev-future", "ev-invalid", later_id])
        connection = await asyncpg.connect(database_url)
        try:
            reasons = dict(await connection.fetch("SELECT event_id, reason FROM events WHERE status = 'dead_lettered'"))
        finally:
            await connection.close()

    assert statuses == {"ev-future": "dead_lettered", "ev-invalid": "dead_lettered", later_id: "applied"}
    assert "unknown envelope version '99'" in reasons["ev-future"]
    assert "orgCode" in reasons["ev-invalid"]
    assert any("not JSON" in reason for reason in reasons.values())
    assert [d["orgCode"] for d in (await read_snapshot(database_url, "t-bad")).departments] == ["X"]

    consumer = AIOKafkaConsumer(
        worker_settings.dead_letter_topic,
        bootstrap_servers=worker_settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"{worker_settings.consumer_group}-dlq-reader",
    )
    await consumer.start()
    try:
        letters = []
        while len(letters) < 3:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"only {len(letters)} dead letters on the topic"
            letters += [m for messages in batch.values() for m in messages]
    finally:
        await consumer.stop()
    assert all(dict(m.headers).get("syncpipe-dead-letter-reason") for m in letters)
