"""Sending sync calls to the gateway the way the platform does (SPEC §1-§3).

Each POST carries the body as UTF-8 JSON and the three signature headers, computed over that same
body with a fresh nonce and the current time. An answer `000005` (the gateway could not store the
call) and a request that never got an answer are retried after a pause, as a platform operator
would; every other answer is final.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import aiohttp

from schemas.canonical import signed_headers
from syncpipe.simulation.concurrency import bounded_gather
from syncpipe.simulation.delivery import Delivery
from syncpipe.simulation.exceptions import GatewayUnreachable
from syncpipe.simulation.generator import PlatformCall

ACCEPTED = "000000"
STORE_FAILED = "000005"
# Not a resultCode: the request got no answer (connection refused or reset, timeout).
NO_ANSWER = "no-answer"
_RETRIED = frozenset({STORE_FAILED, NO_ANSWER})
# Pauses before each retry: together a few seconds, about what a broker needs to fail over.
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0)
# Generous next to the gateway's own produce timeout (5 s): a 30 MB allOrgSync takes a while to upload.
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)


class Answer(NamedTuple):
    """How the gateway finally answered one delivery; `event_id` is set when it was accepted."""

    result_code: str
    event_id: str | None
    attempts: int


class PlatformSender:
    """POSTs signed calls to `{gateway_url}/produceAPI/v2/{interface}`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gateway_url: str,
        access_key: str,
        *,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ) -> None:
        self._session = session
        self._base = gateway_url.rstrip("/")
        self._access_key = access_key
        self._retry_delays_s = tuple(retry_delays_s)

    async def send(self, call: PlatformCall) -> Answer:
        payload = json.dumps(call.body, ensure_ascii=False).encode()
        attempts = 1
        code, event_id = await self._post(call, payload)
        for delay in self._retry_delays_s:
            if code not in _RETRIED:
                break
            await asyncio.sleep(delay)
            attempts += 1
            code, event_id = await self._post(call, payload)
        return Answer(code, event_id, attempts)

    async def _post(self, call: PlatformCall, payload: bytes) -> tuple[str, str | None]:
        headers = signed_headers(self._access_key, secrets.token_hex(16), time.time_ns() // 1_000_000, call.body)
        headers["Content-Type"] = "application/json; charset=utf-8"
        url = f"{self._base}/produceAPI/v2/{call.interface.value}"
        try:
            async with self._session.post(url, data=payload, headers=headers, timeout=_REQUEST_TIMEOUT) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            return NO_ANSWER, None
        return _result_of(status, raw)


def _result_of(status: int, raw: bytes) -> tuple[str, str | None]:
    """The resultCode and eventId of an answer; `http-<status>` when the body is not the gateway's JSON."""
    try:
        answer: Any = json.loads(raw)
        code = answer["resultCode"]
    except (ValueError, TypeError, KeyError):
        return f"http-{status}", None
    event_id = answer.get("eventId")
    return str(code), event_id if isinstance(event_id, str) else None


async def send_all(sender: PlatformSender, deliveries: Sequence[Delivery], concurrency: int) -> list[Answer]:
    """Every delivery's answer, in delivery order, with at most `concurrency` requests in flight.

    The first delivery goes alone: if it gets no answer at all, GatewayUnreachable is raised rather
    than waiting out the retries of thousands of calls.
    """
    if not deliveries:
        return []
    first = await sender.send(deliveries[0].call)
    if first.result_code == NO_ANSWER:
        raise GatewayUnreachable("the gateway did not answer the first call (is the pipeline up?)")
    rest = await bounded_gather((sender.send(delivery.call) for delivery in deliveries[1:]), concurrency)
    return [first, *rest]
