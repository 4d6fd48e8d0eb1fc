"""Sending instance calls to the gateway the way the platform does (SPEC §9).

Each POST goes to the base path with the body as UTF-8 JSON and the query parameters `signature`,
`timestamp` and `nonce`, made with a fresh nonce. The timestamp is the version of the call: it is taken
up to `jitter_ms` before now (well inside the gateway's window), so that the order the calls are signed
in is not the order they arrive in, and it is unique per instance, so that no two calls of one
instance tie. An answer 000005 and a request that got no answer are retried, signed again (a new
request: a new nonce, a new timestamp), after a pause; every other answer is final.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import aiohttp

from schemas.instance_body import read_instance_body
from schemas.instance_signature import signed_query
from syncpipe.simulation.sender import NO_ANSWER, RETRY_DELAYS_S, STORE_FAILED

Body = dict[str, str]
_RETRIED = frozenset({STORE_FAILED, NO_ANSWER})
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)


class InstanceAnswer(NamedTuple):
    """How the gateway finally answered one call; `signed_at_ms` is the version of the attempt answered."""

    result_code: str
    result_msg: str
    event_id: str | None
    instance_id: str | None
    info: list[dict[str, Any]] | None
    signed_at_ms: int
    attempts: int


class InstanceSender:
    """POSTs signed instance calls to `{gateway_url}{base_path}`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gateway_url: str,
        access_key: str,
        *,
        base_path: str = "/",
        jitter_ms: int = 0,
        seed: int = 0,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ) -> None:
        self._session = session
        self._url = gateway_url.rstrip("/") + (base_path if base_path.startswith("/") else f"/{base_path}")
        self._access_key = access_key
        self._jitter_ms = jitter_ms
        self._rng = random.Random(f"{seed}/instance-clock")
        self._retry_delays_s = tuple(retry_delays_s)
        self._taken: dict[str, set[int]] = {}
        self.requests = 0

    async def send(self, body: Body, instance_id: str) -> InstanceAnswer:
        payload = json.dumps(body, ensure_ascii=False).encode()
        attempts = 1
        answer = await self._post(body, payload, instance_id, attempts)
        for delay in self._retry_delays_s:
            if answer.result_code not in _RETRIED:
                break
            await asyncio.sleep(delay)
            attempts += 1
            answer = await self._post(body, payload, instance_id, attempts)
        return answer

    def _signing_time(self, instance_id: str) -> int:
        """Now, or a little before; never a millisecond another call of the instance was signed at."""
        taken = self._taken.setdefault(instance_id, set())
        signed_at = time.time_ns() // 1_000_000 - self._rng.randint(0, self._jitter_ms)
        while signed_at in taken:
            signed_at += 1
        taken.add(signed_at)
        return signed_at

    async def _post(self, body: Body, payload: bytes, instance_id: str, attempts: int) -> InstanceAnswer:
        signed_at = self._signing_time(instance_id)
        query = signed_query(self._access_key, secrets.token_hex(16), signed_at, read_instance_body(payload))
        headers = {"Content-Type": "application/json; charset=utf-8"}
        self.requests += 1
        try:
            async with self._session.post(
                self._url, params=query, data=payload, headers=headers, timeout=_REQUEST_TIMEOUT
            ) as response:
                raw, status = await response.read(), response.status
        except (aiohttp.ClientError, TimeoutError):
            return InstanceAnswer(NO_ANSWER, "", None, None, None, signed_at, attempts)
        try:
            answer = json.loads(raw)
            code, message = str(answer["resultCode"]), str(answer.get("resultMsg", ""))
        except (ValueError, TypeError, KeyError):
            return InstanceAnswer(f"http-{status}", "", None, None, None, signed_at, attempts)
        info = answer.get("info")
        return InstanceAnswer(
            code,
            message,
            answer.get("eventId") if isinstance(answer.get("eventId"), str) else None,
            answer.get("instanceId") if isinstance(answer.get("instanceId"), str) else None,
            info if isinstance(info, list) else None,
            signed_at,
            attempts,
        )
