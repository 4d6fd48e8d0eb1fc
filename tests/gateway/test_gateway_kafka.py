"""The gateway process against a real broker: what is answered 000000 is in Kafka, complete; what is not, is not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.partitioner import DefaultPartitioner

from gateway.app import serve_gateway
from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.calls import Interface, normalised_body, parse_call
from schemas.envelope import (
    HEADER_EVENT_ID,
    HEADER_INTERFACE,
    HEADER_PART,
    HEADER_VERSION,
    EnvelopePart,
    EventEnvelope,
    assemble,
    decode_record,
)
from syncpipe.embedded import EmbeddedKafka
from syncpipe.embedded.process import free_port
from tests.gateway.platform import post_call, sample_body, signed

pytestmark = pytest.mark.integration

# Tansu answers in milliseconds; these bound a loaded CI machine, not the expected time.
_START_TIMEOUT_S = 30.0
_READ_TIMEOUT_S = 20.0
# Without a known count, a topic is read to its end once nothing new has come for this long.
_SETTLE_S = 2.0


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """serve_gateway on a free port, and an HTTP session pointed at it; cancelled on exit."""
    settings = settings.model_copy(update={"gateway_port": free_port()})
    ready = asyncio.Event()
    server = asyncio.create_task(serve_gateway(settings, ready))
    readiness = asyncio.create_task(ready.wait())
    await asyncio.wait([server, readiness], timeout=_START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    readiness.cancel()
    if server.done():
        server.result()  # raises why it stopped
    assert ready.is_set(), "the gateway did not start"
    try:
        async with aiohttp.ClientSession(f"http://{settings.gateway_host}:{settings.gateway_port}") as http:
            yield http
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        assert server.cancelled()


async def read_events(settings: Settings, count: int | None = None) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of the events topic from the start: the first `count`, or (without one) every record
    there is, read until nothing new arrived for a while."""
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,  # whole envelope parts in one fetch
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    quiet_since = time.monotonic()

    def finished() -> bool:
        if count is not None:
            return len(records) >= count
        return time.monotonic() - quiet_since >= _SETTLE_S

    try:
        async with asyncio.timeout(_READ_TIMEOUT_S):
            while not finished():
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return records


async def post(http: aiohttp.ClientSession, access_key: str, interface: str, body: Any) -> tuple[int, dict[str, Any]]:
    raw, headers = signed(access_key, body)
    return await post_call(http, interface, raw, headers)


def large_full_sync(tenant_id: str, size: int) -> dict[str, Any]:
    orgs = []
    while len(orgs) * 100 < size:
        index = len(orgs)
        orgs.append({"orgCode": f"org-{index:06d}", "orgName": f"Department {index} " + "x" * 60, "parentCode": ""})
    return sample_body("allOrgSync", tenant_id, orgInfoList=orgs)


async def test_every_call_is_stored_complete_under_its_tenant_key(settings: Settings, access_key: str) -> None:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    bodies = {interface: sample_body(interface, tenant) for interface in Interface}
    async with running_gateway(settings) as http:
        answers = {interface: await post(http, access_key, interface, body) for interface, body in bodies.items()}
        async with http.get("/readyz") as health:
            assert health.status == 200

    for status, answer in answers.values():
        assert (status, answer["resultCode"]) == (200, "000000"), answer
    records = await read_events(settings, len(bodies))
    assert len(records) == len(bodies)
    by_interface = {}
    for record in records:
        assert record.key == tenant.encode()
        headers = dict(record.headers)
        assert headers[HEADER_VERSION] == b"1"
        assert HEADER_PART not in headers
        envelope = decode_record(record.key, record.value, record.headers)
        assert isinstance(envelope, EventEnvelope)
        assert headers[HEADER_EVENT_ID] == envelope.eventId.encode()
        assert headers[HEADER_INTERFACE] == envelope.interface.value.encode()
        by_interface[envelope.interface] = envelope

    assert set(by_interface) == set(Interface)
    for interface, envelope in by_interface.items():
        call = parse_call(interface, bodies[interface])
        assert envelope.eventId == answers[interface][1]["eventId"]
        assert (envelope.tenantId, envelope.instanceId, envelope.timeStamp) == (tenant, "inst-1", call.timeStamp)
        assert envelope.call == normalised_body(call)
        assert abs(envelope.acceptedAt.timestamp() - time.time()) < 60


async def test_concurrent_calls_are_each_stored_under_the_partition_of_their_tenant(
    settings: Settings, access_key: str
) -> None:
    """Calls answered together share record batches; each record still lands where the producer's
    default partitioner puts its key, so a tenant's events stay in one partition whoever writes them."""
    run = uuid.uuid4().hex[:8]
    bodies = [
        sample_body("singleOrgSync", f"t-{run}-{index % 25}", orgCode=f"org-{index}", orgName=f"Department {index}")
        for index in range(300)
    ]
    async with running_gateway(settings) as http:
        answers = await asyncio.gather(*(post(http, access_key, "singleOrgSync", body) for body in bodies))
    assert [answer["resultCode"] for _, answer in answers] == ["000000"] * len(bodies)

    records = await read_events(settings, len(bodies))
    partitions = sorted(range(settings.topic_partitions))
    stored = {}
    for record in records:
        assert record.key is not None
        assert record.partition == DefaultPartitioner()(record.key, partitions, partitions)
        stored[dict(record.headers)[HEADER_EVENT_ID].decode()] = record.key
    assert len(records) == len(bodies)
    assert {
        answer["eventId"]: body["tenantId"].encode() for (_, answer), body in zip(answers, bodies, strict=True)
    } == (stored)


async def test_the_same_call_sent_twice_carries_the_same_event_id(settings: Settings, access_key: str) -> None:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    body = sample_body("singleOrgSync", tenant)
    resent = json.dumps(dict(reversed(body.items())), indent=2).encode()  # new nonce, whitespace, key order
    async with running_gateway(settings) as http:
        first = await post(http, access_key, "singleOrgSync", body)
        second = await post(http, access_key, "singleOrgSync", resent)

    assert first[1]["resultCode"] == second[1]["resultCode"] == "000000"
    assert first[1]["eventId"] == second[1]["eventId"]
    records = await read_events(settings, 2)
    assert {dict(record.headers)[HEADER_EVENT_ID] for record in records} == {first[1]["eventId"].encode()}


async def test_a_3_mb_full_sync_arrives_in_parts_that_assemble(settings: Settings, access_key: str) -> None:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    body = large_full_sync(tenant, 3 * 1024 * 1024)
    assert len(json.dumps(body)) > 3 * 1024 * 1024
    async with running_gateway(settings) as http:
        status, answer = await post(http, access_key, "allOrgSync", body)
    assert (status, answer["resultCode"]) == (200, "000000"), answer

    expected_parts = -(-len(json.dumps(body)) // settings.max_record_bytes)  # at least this many
    first = await read_events(settings, 1)
    count = int(dict(first[0].headers)[HEADER_PART].decode().rsplit(":", 1)[1])
    assert count >= expected_parts
    records = await read_events(settings, count)
    assert len({record.partition for record in records}) == 1
    assert all(record.key == tenant.encode() for record in records)
    parts = [decode_record(record.key, record.value, record.headers) for record in records]
    assert all(isinstance(part, EnvelopePart) for part in parts)
    assert [part.part_index for part in parts if isinstance(part, EnvelopePart)] == list(range(count))
    envelope = assemble([part for part in parts if isinstance(part, EnvelopePart)])
    assert envelope.eventId == answer["eventId"]
    assert len(envelope.call["orgInfoList"]) == len(body["orgInfoList"])


def complete_event_ids(records: list[ConsumerRecord[bytes, bytes]]) -> list[str]:
    """The events a consumer could apply: single records, and uploads holding every one of their parts."""
    events: list[str] = []
    uploads: dict[str, list[EnvelopePart]] = {}
    for record in records:
        decoded = decode_record(record.key, record.value, record.headers)
        if isinstance(decoded, EventEnvelope):
            events.append(decoded.eventId)
        else:
            uploads.setdefault(decoded.upload_id, []).append(decoded)
    events += [parts[0].event_id for parts in uploads.values() if len(parts) == parts[0].part_count]
    return events


async def test_the_gateway_will_not_start_without_an_access_key(settings: Settings) -> None:
    with pytest.raises(ValueError, match="no access key"):
        await serve_gateway(settings.model_copy(update={"access_keys": ()}))


async def test_with_the_broker_down_a_call_is_refused_in_bounded_time_and_leaves_no_trace(access_key: str) -> None:
    broker = EmbeddedKafka()
    broker.start()
    run = uuid.uuid4().hex[:12]
    settings = Settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        events_topic=f"events-{run}",
        dead_letter_topic=f"dlq-{run}",
        topic_partitions=2,
        access_keys=(access_key,),  # type: ignore[arg-type]
        produce_timeout_s=2.0,
    )
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    try:
        async with running_gateway(settings) as http:
            status, answer = await post(http, access_key, "tenantSync", sample_body("tenantSync", tenant))
            assert (status, answer["resultCode"]) == (200, "000000"), answer
            broker.stop()

            refused = [
                ("tenantSync", sample_body("tenantSync", tenant, name="lost")),
                ("allOrgSync", large_full_sync(tenant, 3 * 1024 * 1024)),
            ]
            for interface, body in refused:
                started = time.monotonic()
                status, answer = await post(http, access_key, interface, body)
                assert time.monotonic() - started < settings.produce_timeout_s + 1.5
                assert (status, answer["resultCode"]) == (503, "000005"), answer
                assert "try again" in answer["resultMsg"]
            async with http.get("/readyz") as health:
                assert health.status == 503
            async with http.get("/healthz") as alive:
                assert alive.status == 200  # the process itself is fine: no reason to restart it

            # A broker comes back on the same address, empty: the refused calls must not appear in it.
            broker = EmbeddedKafka(port=broker.port)
            broker.start()
            await ensure_topics(settings)
            status, answer = await post(http, access_key, "tenantSync", sample_body("tenantSync", tenant, name="back"))
            assert (status, answer["resultCode"]) == (200, "000000"), answer
            await asyncio.sleep(settings.produce_timeout_s)  # room for a late retry of the refused calls to land

        records = await read_events(settings)
        assert complete_event_ids(records) == [answer["eventId"]]  # the contract: nothing else can be applied
        assert len(records) == 1  # and here not even an inert part: the first part was never acknowledged
    finally:
        broker.stop()
