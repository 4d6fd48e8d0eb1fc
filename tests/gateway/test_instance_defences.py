"""The sync calls' defences hold on the instance route too (SPEC §9, the same gateway): its bodies count
in the one in-flight budget as their bytes arrive and in their client's unverified share, a sender
leaving mid-body is no answer and no error, malformed HTTP is answered in the contract's shape, and its
`timestamp` has one spelling (a `0` moved from the nonce's end to the timestamp's front is no new nonce)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import AsyncIterator

import pytest

from runtime.ops_server import Metrics
from runtime.settings import Settings
from schemas.instance_calls import derive_instance_id
from tests.gateway.conftest import RunningGateway, StartGateway
from tests.gateway.fakes import FakeInstanceDirectory
from tests.gateway.platform import post_instance_call, sample_body, signed_instance
from tests.gateway.test_broken_requests import metric, raw_exchange
from tests.gateway.test_in_flight_budget import _answer, post

INSTANCE_KEY = "instance-key-0123456789"
CHANGE = {"activity": "releaseInstance", "instanceId": derive_instance_id("CS1", "CS1-000001")}
# The largest instance body (gateway.instance_intake.MAX_INSTANCE_BODY_BYTES): the most an idle sender may declare.
_INSTANCE_LIMIT = 64 * 1024
# Far inside the produce timeout (2 s below): an answer that waited for room would take all of it.
_PROMPT_S = 1.0


@pytest.fixture
async def small_limits(start_gateway: StartGateway, access_key: str) -> RunningGateway:
    """A budget of four 64 KiB bodies, one of them per unproven client, and a short produce timeout."""
    settings = Settings(
        access_keys=(access_key,),  # type: ignore[arg-type]
        instance_access_keys=(INSTANCE_KEY,),  # type: ignore[arg-type]
        max_full_sync_bytes=_INSTANCE_LIMIT,
        gateway_max_in_flight_bytes=4 * _INSTANCE_LIMIT,
        gateway_max_unverified_bytes_per_client=_INSTANCE_LIMIT,
        produce_timeout_s=2.0,
    )
    return await start_gateway(settings=settings, instance_directory=FakeInstanceDirectory(), metrics=Metrics())


@contextlib.asynccontextmanager
async def partial_instance_bodies(
    gateway: RunningGateway, count: int, sent: int, *, source: str = "127.0.0.1"
) -> AsyncIterator[list[asyncio.StreamReader]]:
    """`count` connections from `source` that declare an instance call of the largest size, send `sent`
    bytes of it and wait; their readers, for what they are told."""
    head = (
        f"POST /?timestamp=1&nonce=n&signature=s HTTP/1.1\r\nHost: gateway\r\nContent-Length: {_INSTANCE_LIMIT}\r\n\r\n"
    )
    port = gateway.client.port
    assert port is not None
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(head.encode() + b"{" + b" " * (sent - 1))
        await writer.drain()
        connections.append((reader, writer))
    await asyncio.sleep(0.3)  # the gateway has read what they sent
    try:
        yield [reader for reader, _ in connections]
    finally:
        for _, writer in connections:
            writer.close()


async def genuine_calls_answer_promptly(gateway: RunningGateway) -> None:
    """An instance call and a sync call, each signed, each stored at once."""
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, timestamp_ms=int(gateway.clock.now * 1000))
    started = time.monotonic()
    status, answer = await post_instance_call(gateway.client, raw, query)
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    raw, headers = gateway.sign(sample_body("tenantSync", "t-genuine"))
    status, answer = await post(gateway, "tenantSync", io.BytesIO(raw), headers)
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    assert time.monotonic() - started < _PROMPT_S


async def test_idle_instance_connections_declaring_the_largest_body_hold_no_room(small_limits: RunningGateway) -> None:
    """Four connections declaring 64 KiB instance calls and sending one byte reserved the whole budget
    (declared lengths were reserved up front): every genuine call then waited and got 000005."""
    async with partial_instance_bodies(small_limits, 4, sent=1):
        await genuine_calls_answer_promptly(small_limits)
    assert len(small_limits.published) == 2


async def test_an_instance_sender_without_a_key_holds_no_more_than_its_share(small_limits: RunningGateway) -> None:
    """Instance bodies that arrive nearly whole, then stall: from one address they fill only its share
    (the one the sync calls are held to), and genuine calls from another address still get room."""
    async with partial_instance_bodies(small_limits, 6, sent=60 * 1024, source="127.0.0.2") as stalled:
        await genuine_calls_answer_promptly(small_limits)
        # The bodies past the share waited for room they could not get: 000005 at the produce timeout.
        answers = await asyncio.gather(*(_answer(reader, 3.0) for reader in stalled))
    refused = [answer for answer in answers if answer and answer["resultCode"] == "000005"]
    assert len(refused) == 5, answers


async def test_an_instance_sender_leaving_mid_body_is_no_answer_and_no_error(
    small_limits: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, timestamp_ms=int(small_limits.clock.now * 1000))
    target = "/?" + "&".join(f"{name}={value}" for name, value in query.items())
    head = f"POST {target} HTTP/1.1\r\nHost: gateway\r\nContent-Length: 10000\r\n\r\n"
    with caplog.at_level(logging.INFO):
        await raw_exchange(small_limits, head.encode() + raw[:10], close_after_s=0.1)
        for _ in range(50):  # the handler notices the connection gone on its next read
            if await metric(small_limits, "syncpipe_gateway_calls_abandoned_total", interface="unknown"):
                break
            await asyncio.sleep(0.02)
    assert await metric(small_limits, "syncpipe_gateway_calls_abandoned_total", interface="unknown") == 1
    assert await metric(small_limits, "syncpipe_gateway_calls_total", interface="unknown", result_code="000005") == 0
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING], caplog.text
    assert "Traceback" not in caplog.text
    assert small_limits.published == []


async def test_malformed_http_on_the_instance_route_is_answered_in_the_contracts_shape(
    small_limits: RunningGateway,
) -> None:
    answer = await raw_exchange(small_limits, b"POST /?timestamp=1 HTTP/1.1\r\nX-Evil: a\x01<script>\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b'"resultCode": "000002"' in body
    assert b"<script>" not in answer


async def test_an_instance_timestamp_with_a_leading_zero_is_refused(small_limits: RunningGateway) -> None:
    now_ms = int(small_limits.clock.now * 1000)
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, timestamp_ms=now_ms)
    status, answer = await post_instance_call(small_limits.client, raw, {**query, "timestamp": f"0{now_ms}"})
    assert (status, answer["resultCode"]) == (200, "000002")
    assert answer["resultMsg"].startswith("timestamp: not a number")
    assert "leading zeros" in answer["resultMsg"]


async def test_a_zero_moved_from_the_nonce_to_the_timestamp_is_no_new_nonce(small_limits: RunningGateway) -> None:
    """The signed message runs nonce and timestamp together: a captured call whose nonce ends in 0,
    sent again with that 0 moved to the front of its timestamp, carries the same signature."""
    now_ms = int(small_limits.clock.now * 1000)
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, nonce="captured-nonce-0", timestamp_ms=now_ms)
    assert (await post_instance_call(small_limits.client, raw, query))[1]["resultCode"] == "000000"
    moved = {**query, "nonce": "captured-nonce-", "timestamp": f"0{now_ms}"}
    status, answer = await post_instance_call(small_limits.client, raw, moved)
    assert (status, answer["resultCode"]) == (200, "000002"), answer
    assert len(small_limits.published) == 1
