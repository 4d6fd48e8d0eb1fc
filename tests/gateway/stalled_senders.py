"""Senders that declare a body, send part of it and stall, on either route (a sync call's, an instance
call's), and the genuine calls that must still get through: what the in-flight budget is tested with
(test_in_flight_budget.py, test_instance_defences.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from schemas.instance_calls import derive_instance_id
from tests.gateway.conftest import INSTANCE_KEY, RunningGateway
from tests.gateway.platform import post_instance_call, sample_body, signed_instance

CHANGE = {"activity": "releaseInstance", "instanceId": derive_instance_id("CS1", "CS1-000001")}
# Far inside the produce timeout (conftest.PRODUCE_TIMEOUT_S): an answer that waited for room would take all of it.
PROMPT_S = 1.0


class Route(NamedTuple):
    name: str
    head: Callable[[RunningGateway, int], str]  # a request's head, up to its body of the length given


def _sync_head(gateway: RunningGateway, declared: int) -> str:
    """An allOrgSync's, with well-formed, current signature headers (checked before the body is read)."""
    _, headers = gateway.sign({})
    head = f"POST /produceAPI/v2/allOrgSync HTTP/1.1\r\nHost: gateway\r\nContent-Length: {declared}\r\n"
    return head + "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"


def _instance_head(gateway: RunningGateway, declared: int) -> str:
    """An instance call's (its query is checked only once its body has arrived)."""
    return f"POST /?timestamp=1&nonce=n&signature=s HTTP/1.1\r\nHost: gateway\r\nContent-Length: {declared}\r\n\r\n"


SYNC = Route("sync", _sync_head)
INSTANCE = Route("instance", _instance_head)


@contextlib.asynccontextmanager
async def stalled_bodies(
    gateway: RunningGateway, route: Route, count: int, declared: int, sent: int, *, source: str = "127.0.0.1"
) -> AsyncIterator[list[asyncio.StreamReader]]:
    """`count` connections from `source` that declare a body of `declared` bytes on `route`, send
    `sent` bytes of it and wait; their readers, for what they are told."""
    head = route.head(gateway, declared)
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


async def answer_on(reader: asyncio.StreamReader, timeout_s: float) -> dict[str, Any] | None:
    """The JSON answer on a connection, if one comes within `timeout_s` (the server keeps reading the
    rest of an unread body for a while after answering: not until it hangs up)."""
    with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        async with asyncio.timeout(timeout_s):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            answer: dict[str, Any] = json.loads(await reader.readexactly(length))
            return answer
    return None


async def post(gateway: RunningGateway, interface: str, data: Any, headers: dict[str, str]) -> tuple[int, Any]:
    """POST a sync call whose body is `data` (a stream, or an async iterator of its pieces)."""
    async with gateway.client.post(f"/produceAPI/v2/{interface}", data=data, headers=headers) as response:
        return response.status, await response.json()


async def genuine_calls_answer_promptly(gateway: RunningGateway, tenant_id: str = "t-genuine") -> None:
    """An instance call and a sync call, each signed, each stored at once."""
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, timestamp_ms=int(gateway.clock.now * 1000))
    started = time.monotonic()
    status, answer = await post_instance_call(gateway.client, raw, query)
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    raw, headers = gateway.sign(sample_body("tenantSync", tenant_id))
    status, answer = await post(gateway, "tenantSync", io.BytesIO(raw), headers)
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    assert time.monotonic() - started < PROMPT_S
