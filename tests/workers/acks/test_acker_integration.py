"""Acks end to end: a real worker on the real broker and Postgres, an acker, a platform that fails.

Done when (issue 4): the ack endpoint fails for a while (500s, then timeouts, then a closed port),
then recovers; every event gets exactly its correct ack at least once, none before its change
committed, and applying went on meanwhile. An acker SIGKILLed while acks are pending is replaced
by a new one that sends them all.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from read_api.queries import fetch_event_status
from runtime.settings import Settings
from schemas.ack import DONE, NOT_APPLIED
from schemas.calls import AnyCall, parse_call
from tests.workers.acks.finished_events import commit_finished, finished
from tests.workers.acks.flaky_platform import FlakyPlatform
from tests.workers.acks.running import running_acker, wait_until_all_sent
from tests.workers.pipeline import publish, running_worker, wait_for_events

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def pipeline_settings(settings: Settings, database_url: str, platform: FlakyPlatform) -> Settings:
    return settings.model_copy(
        update={
            "database_url": SecretStr(database_url),
            "session_timeout_ms": 6000,
            "ack_url": platform.url,
            "ack_timeout_s": 0.5,
            "ack_max_in_flight": 8,
            "ack_retry_first_s": 0.05,
            "ack_retry_cap_s": 0.3,
        }
    )


def call(tenant: str, interface: str, millisecond: int, **fields: object) -> AnyCall:
    return parse_call(interface, {"tenantId": tenant, "timeStamp": f"20260101000000{millisecond:03d}", **fields})


async def publish_invalid_envelope(settings: Settings, tenant: str) -> str:
    """An event the gateway would never let through (no orgCode): the worker dead-letters it."""
    event_id = f"ev-invalid-{uuid.uuid4().hex[:8]}"
    value = (
        f'{{"envelopeVersion":1,"eventId":"{event_id}","interface":"singleOrgSync","tenantId":"{tenant}",'
        f'"instanceId":"","timeStamp":"20260101000000900","testFlag":0,"acceptedAt":"2026-01-01T00:00:00Z",'
        f'"call":{{"tenantId":"{tenant}","timeStamp":"20260101000000900","flag":1}}}}'
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.events_topic, value.encode(), key=tenant.encode())
    finally:
        await producer.stop()
    return event_id


async def outbox_shows(database_url: str, condition: str, timeout_s: float = 20.0) -> None:
    """Wait until `SELECT bool(condition) FROM ack_outbox` holds."""
    connection = await asyncpg.connect(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not await connection.fetchval(f"SELECT coalesce({condition}, false) FROM ack_outbox"):
            assert asyncio.get_running_loop().time() < deadline, f"the outbox never showed {condition}"
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def test_every_event_is_acknowledged_correctly_through_a_platform_outage(
    pipeline_settings: Settings, platform: FlakyPlatform, database_url: str
) -> None:
    tenant = f"t-acks-{uuid.uuid4().hex[:8]}"
    tenant_add = call(tenant, "tenantSync", 200, flag=1, name="Acme", tenantCode="acme")
    during_500s = [
        call(tenant, "allOrgSync", 100, orgInfoList=[{"orgCode": "A", "orgName": "研发部"}]),
        tenant_add,
        call(tenant, "singleOrgSync", 50, flag=1, orgCode="OLD", orgName="older than the snapshot"),
        call(tenant, "tenantSync", 600, flag=2, name="probe", tenantCode="acme", testFlag=1),
    ]
    during_timeouts = [call(tenant, "singleOrgSync", 300, flag=1, orgCode="C", parentCode="A"), tenant_add]
    while_closed = [call(tenant, "singleOrgSync", 400, flag=1, orgCode="D", parentCode="A")]

    async with running_worker(pipeline_settings), running_acker(pipeline_settings):
        platform.mode = "fail"
        first = await publish(pipeline_settings, during_500s)
        await wait_for_events(database_url, first)
        await outbox_shows(database_url, "bool_and(attempts >= 2 AND last_error LIKE 'HTTP 500:%')")

        platform.mode = "hang"
        second = await publish(pipeline_settings, during_timeouts)
        await wait_for_events(database_url, second)
        await outbox_shows(database_url, "bool_or(last_error = 'no answer within 0.5 s')")

        await platform.close()
        third = await publish(pipeline_settings, while_closed)
        third.append(await publish_invalid_envelope(pipeline_settings, tenant))
        await wait_for_events(database_url, third)
        await outbox_shows(database_url, "bool_or(last_error LIKE 'ClientConnectorError:%')")

        assert platform.acks == {}  # not one ack taken so far, and yet every event was applied
        async with asyncpg.create_pool(database_url, min_size=1, max_size=1) as pool:
            recovered_at = await pool.fetchval("SELECT now()")
        platform.mode = "ok"
        await platform.open()
        await wait_until_all_sent(database_url)

    connection = await asyncpg.connect(database_url)
    try:
        events = {row["event_id"]: row for row in await connection.fetch("SELECT * FROM events")}
        [re_sent] = [event_id for event_id, row in events.items() if row["duplicates"]]
        first_ack = await fetch_event_status(connection, first[0])
    finally:
        await connection.close()

    assert set(events) == set(first + second + third)
    assert all(row["finished_at"] < recovered_at for row in events.values())
    assert {row["status"] for row in events.values()} == {"applied", "stale", "test", "dead_lettered"}
    assert set(platform.acks) == set(events)
    for event_id, row in events.items():
        acks = platform.acks[event_id]
        expected = {row["status"], "duplicate"} if row["duplicates"] else {row["status"]}
        assert {ack["status"] for ack in acks} == expected, event_id
        assert acks[0]["status"] == platform.status_on_arrival[event_id] == row["status"]
        assert {(ack["tenantId"], ack["interface"]) for ack in acks} == {(tenant, row["interface"])}
        assert {ack["resultCode"] for ack in acks} == {NOT_APPLIED if row["status"] == "dead_lettered" else DONE}
    assert [ack["status"] for ack in platform.acks[re_sent]] == ["applied", "duplicate"]
    assert platform.before_commit == []
    assert platform.bad_signatures == 0
    assert first_ack is not None
    assert first_ack.ack is not None
    assert first_ack.ack.sent
    assert first_ack.ack.attempts >= 3  # at least two failures, then the one that went through


def acker_process_env(database_url: str, platform: FlakyPlatform, access_key: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYNCPIPE_")}
    env.update(
        DATABASE_URL=database_url,
        SYNCPIPE_ACK_URL=platform.url,
        SYNCPIPE_ACCESS_KEYS=access_key,
        SYNCPIPE_ACK_TIMEOUT_S="1",
        SYNCPIPE_ACK_MAX_IN_FLIGHT="16",
        SYNCPIPE_ACK_RETRY_FIRST_S="0.05",
        SYNCPIPE_ACK_RETRY_CAP_S="0.5",
    )
    return env


async def start_acker_process(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workers.acks", env=env, cwd=REPO, stdout=output, stderr=output
        )


async def test_a_killed_acker_loses_nothing_a_new_one_sends_every_pending_ack(
    platform: FlakyPlatform, database_url: str, access_key: str, tmp_path: Path
) -> None:
    events = [finished() for _ in range(120)]
    connection = await asyncpg.connect(database_url)
    try:
        await commit_finished(connection, events)
        env = acker_process_env(database_url, platform, access_key)
        log = tmp_path / "acker.log"

        platform.mode = "hang"
        killed = await start_acker_process(env, log)
        try:
            await platform.wait_until(lambda: platform.in_flight == 16)
        finally:
            killed.send_signal(signal.SIGKILL)
            await killed.wait()
        leased = await connection.fetchval("SELECT count(*) FROM ack_outbox WHERE attempts = 1")
        assert (leased, await connection.fetchval("SELECT count(*) FROM ack_outbox WHERE sent_at IS NOT NULL")) == (
            16,
            0,
        ), log.read_text()

        platform.mode = "ok"
        successor = await start_acker_process(env, log)
        try:
            await wait_until_all_sent(database_url, timeout_s=30)
        finally:
            successor.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(successor.wait(), timeout=10)
        attempts = dict(await connection.fetch("SELECT attempts, count(*) FROM ack_outbox GROUP BY attempts"))
    finally:
        await connection.close()

    assert set(platform.acks) == {event.event_id for event in events}
    assert attempts == {1: 104, 2: 16}  # the killed acker's requests were sent again once their lease ended
    assert platform.before_commit == []
    assert platform.bad_signatures == 0
    assert returncode == 0, log.read_text()
