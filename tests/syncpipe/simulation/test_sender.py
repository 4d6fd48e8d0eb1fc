"""How the sender reads the gateway's answers and which ones it retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from schemas.calls import Interface
from syncpipe.simulation.generator import PlatformCall
from syncpipe.simulation.sender import NO_ANSWER, Answer, PlatformSender

CALL = PlatformCall(
    Interface.SINGLE_ORG_SYNC,
    {"tenantId": "t", "timeStamp": "20250301120000000", "orgCode": "D1", "orgName": "研发部", "flag": 1},
)
DELAYS = (0.001, 0.001, 0.001)

Handler = Callable[[web.Request], web.Response]


async def send_to(handler: Handler) -> tuple[Answer, int]:
    """The answer to CALL from a gateway made of `handler`, and how many requests it received."""
    seen = 0

    async def counting(request: web.Request) -> web.Response:
        nonlocal seen
        seen += 1
        return handler(request)

    app = web.Application()
    app.router.add_post("/produceAPI/v2/{interface}", counting)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        answer = await PlatformSender(session, str(server.make_url("")), "key", retry_delays_s=DELAYS).send(CALL)
    return answer, seen


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_an_accepted_call_carries_its_event_id() -> None:
    answer, seen = await send_to(lambda _: web.json_response({"resultCode": "000000", "eventId": "e1"}))
    assert (answer, seen) == (Answer("000000", "e1", 1), 1)


async def test_a_refusal_is_final() -> None:
    answer, seen = await send_to(lambda _: web.json_response({"resultCode": "000002", "resultMsg": "orgCode"}))
    assert (answer, seen) == (Answer("000002", None, 1), 1)


async def test_a_store_failure_is_retried_until_the_delays_run_out() -> None:
    answer, seen = await send_to(lambda _: web.json_response({"resultCode": "000005"}, status=503))
    assert (answer, seen) == (Answer("000005", None, len(DELAYS) + 1), len(DELAYS) + 1)


async def test_an_answer_that_is_not_the_gateways_json_is_named_by_its_http_status() -> None:
    answer, seen = await send_to(lambda _: web.Response(status=502, text="<html>bad gateway</html>"))
    assert (answer, seen) == (Answer("http-502", None, 1), 1)


async def test_no_answer_at_all_is_retried_then_reported(session: aiohttp.ClientSession) -> None:
    sender = PlatformSender(session, "http://127.0.0.1:9", "key", retry_delays_s=DELAYS)
    assert await sender.send(CALL) == Answer(NO_ANSWER, None, len(DELAYS) + 1)
