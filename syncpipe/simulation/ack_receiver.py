"""The platform's ack endpoint, as the simulator plays it (SPEC §6).

Any `POST` on the port is an ack. Its signature is checked the way SPEC §2 has the gateway check
the platform's calls: HMAC over the canonical JSON of the parsed body, a timestamp inside the
window, a nonce not seen before. A good ack is answered `200 {"resultCode": "000000"}` and kept
by eventId (every copy, in arrival order: delivery is at least once); a bad one is answered 401,
counted, and not kept. A body that is not a JSON object is answered 400 and counted as bad too.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from schemas.canonical import canonical_json, matching_key

# SPEC §2's default window; the acker signs each attempt afresh, so a retried ack is never stale.
SIGNATURE_WINDOW_S = 60.0


def signature_is_valid(
    access_key: str, headers: Mapping[str, str], body: Mapping[str, Any], *, window_s: float = SIGNATURE_WINDOW_S
) -> bool:
    """The x-sign / x-timestamp / x-nonce headers sign `body` with `access_key`, and the timestamp is
    within `window_s` of now (nonce replay is the caller's to check)."""
    stamp, nonce = headers.get("x-timestamp", ""), headers.get("x-nonce", "")
    try:
        skew_ms = abs(int(stamp) - time.time_ns() // 1_000_000)
    except ValueError:
        return False
    if skew_ms > window_s * 1000 or not nonce:
        return False
    return matching_key([access_key], nonce, stamp, canonical_json(body), headers.get("x-sign", "")) == 0


class AckReceiver:
    """Keeps the acks signed with `access_key`; `acks[eventId]` lists the bodies in arrival order."""

    def __init__(self, access_key: str) -> None:
        self._access_key = access_key
        self._nonces: set[str] = set()
        self._arrived = asyncio.Event()
        self.acks: dict[str, list[dict[str, Any]]] = {}
        self.received = 0
        self.bad_signatures = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._receive)
        return app

    def first_status(self, event_id: str) -> str | None:
        """The status of the first ack of `event_id`: the one a receiver deduping on eventId keeps."""
        acks = self.acks.get(event_id)
        return str(acks[0].get("status")) if acks else None

    async def wait_for(self, event_ids: Collection[str], timeout_s: float) -> set[str]:
        """Wait until each of `event_ids` has an ack or `timeout_s` passed; return those still without."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        missing = {event_id for event_id in event_ids if event_id not in self.acks}
        while missing and loop.time() < deadline:
            self._arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._arrived.wait()
            except TimeoutError:
                break
            missing = {event_id for event_id in missing if event_id not in self.acks}
        return missing

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("eventId"), str):
            self.bad_signatures += 1
            return _answer("000002", "expected a JSON object with an eventId", status=400)
        nonce = request.headers.get("x-nonce", "")
        if nonce in self._nonces or not signature_is_valid(self._access_key, request.headers, body):
            self.bad_signatures += 1
            return _answer("000001", "signature missing, wrong, expired or replayed", status=401)
        self._nonces.add(nonce)
        self.received += 1
        self.acks.setdefault(body["eventId"], []).append(body)
        self._arrived.set()
        return _answer("000000", "ok")


def _answer(code: str, message: str, *, status: int = 200) -> web.Response:
    # The answers are constants: their JSON is encoded once, as a platform's server would keep it.
    return web.Response(body=_encoded_answer(code, message), status=status, content_type="application/json")


@functools.cache
def _encoded_answer(code: str, message: str) -> bytes:
    return json.dumps({"resultCode": code, "resultMsg": message}).encode()


@asynccontextmanager
async def serving_acks(receiver: AckReceiver, host: str, port: int) -> AsyncIterator[str]:
    """Serve `receiver` on `host:port` (0 = any free port); yields its base URL."""
    # No access log: one line per ack would drown the pipeline's own log in `syncpipe up --demo`.
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield f"http://{host}:{bound_port}"
    finally:
        await runner.cleanup()
