"""One signed ack POST: what the platform receives, and how each kind of failure is reported."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from schemas.canonical import canonical_json
from syncpipe.embedded.process import free_port
from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks, signature_is_valid
from workers.acks.errors import AckNotDelivered
from workers.acks.platform_client import PlatformAckClient

BODY: dict[str, Any] = {
    "eventId": "e1",
    "interface": "allOrgSync",
    "tenantId": "t1",
    "instanceId": "",
    "status": "dead_lettered",
    "resultCode": "000003",
    "resultMsg": "dead_lettered: orgName: 研发部 is too long",
    "finishedAt": "20260105093000123",
}
TIMEOUT_S = 0.3


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_simulators_receiver_verifies_a_sent_ack(session: aiohttp.ClientSession, access_key: str) -> None:
    receiver = AckReceiver(access_key)
    async with serving_acks(receiver, "127.0.0.1", 0) as url:
        client = PlatformAckClient(session, f"{url}/acks", access_key, TIMEOUT_S)
        await client.deliver(BODY)
        await client.deliver(BODY)  # a retry: fresh nonce and timestamp, not a replay

    assert receiver.bad_signatures == 0
    assert receiver.acks == {"e1": [BODY, BODY]}


@pytest.fixture
async def platform() -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    """A platform answering by path: /ok 200, /accepted 202, /busy 500, /hang never. Yields url, requests, bodies."""
    requests: list[web.Request] = []
    bodies: list[bytes] = []

    async def answer(request: web.Request) -> web.Response:
        requests.append(request)
        bodies.append(await request.read())
        match request.match_info["path"]:
            case "ok":
                return web.json_response({"resultCode": "000000"})
            case "accepted":
                return web.Response(status=202)
            case "busy":
                return web.Response(status=500, text="busy" + "!" * 10_000)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post("/{path}", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", requests, bodies
    finally:
        await runner.cleanup()


async def test_the_bytes_sent_are_the_signed_canonical_json(
    session: aiohttp.ClientSession, access_key: str, platform: tuple[str, list[web.Request], list[bytes]]
) -> None:
    url, requests, bodies = platform
    await PlatformAckClient(session, f"{url}/ok", access_key, TIMEOUT_S).deliver(BODY)
    await PlatformAckClient(session, f"{url}/accepted", access_key, TIMEOUT_S).deliver(BODY)

    assert bodies[0] == canonical_json(BODY).encode()
    assert "研发部".encode() in bodies[0]
    assert requests[0].headers["Content-Type"] == "application/json; charset=utf-8"
    assert signature_is_valid(access_key, requests[0].headers, json.loads(bodies[0]))
    assert not signature_is_valid("another-key", requests[0].headers, json.loads(bodies[0]))
    assert requests[0].headers["x-nonce"] != requests[1].headers["x-nonce"]


@pytest.mark.parametrize(
    ("path", "reported"),
    [("busy", "HTTP 500: busy!!!"), ("hang", f"no answer within {TIMEOUT_S:g} s")],
)
async def test_a_failed_answer_is_not_delivered_and_says_why(
    session: aiohttp.ClientSession,
    access_key: str,
    platform: tuple[str, list[web.Request], list[bytes]],
    path: str,
    reported: str,
) -> None:
    url, _, _ = platform
    with pytest.raises(AckNotDelivered) as failure:
        await PlatformAckClient(session, f"{url}/{path}", access_key, TIMEOUT_S).deliver(BODY)

    assert str(failure.value).startswith(reported)
    assert len(str(failure.value)) < 250  # an error page is not copied whole into the outbox
    assert failure.value.retriable


async def test_a_closed_port_is_not_delivered(session: aiohttp.ClientSession, access_key: str) -> None:
    client = PlatformAckClient(session, f"http://127.0.0.1:{free_port()}/acks", access_key, TIMEOUT_S)
    with pytest.raises(AckNotDelivered, match="ClientConnectorError"):
        await client.deliver(BODY)
