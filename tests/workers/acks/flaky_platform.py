"""The platform's ack endpoint as a test needs it: it can answer 500, hang, be closed, or work.

Every request is checked on arrival, whatever the mode: its signature (the simulator's check) and
whether the acknowledged event's row is already committed in Postgres (an ack must never leave
before the change it acknowledges). Good acks answered 200 are kept by eventId in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

import asyncpg
from aiohttp import web

from syncpipe.embedded.process import free_port
from syncpipe.simulation.ack_receiver import signature_is_valid

Mode = Literal["ok", "fail", "hang"]
# A hanging answer outlives any client timeout a test sets.
HANG_S = 3600.0


class FlakyPlatform:
    def __init__(self, access_key: str, database_url: str) -> None:
        self._access_key = access_key
        self._database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/platform/acks"
        self.mode: Mode = "ok"
        self.requests: Counter[Mode] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.acks: dict[str, list[dict[str, Any]]] = {}
        self.bad_signatures = 0
        # Event ids whose ack arrived before their `events` row was committed: must stay empty.
        self.before_commit: list[str] = []
        # Event id -> the event's status in Postgres when its first good ack arrived.
        self.status_on_arrival: dict[str, str] = {}
        self._pool: asyncpg.Pool | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FlakyPlatform:
        self._pool = await asyncpg.create_pool(self._database_url, min_size=1, max_size=4)
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
        if self._pool is not None:
            await self._pool.close()

    async def open(self) -> None:
        """Listen on `self.port` (the same port every time)."""
        app = web.Application()
        app.router.add_post("/platform/acks", self._receive)
        # A hanging answer ends when its client gives up (so `in_flight` counts open requests), and
        # at once on close: the test wants "connection refused" straight away.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        """Stop listening: from now on connections are refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, "the platform never saw what the test waited for"
            await asyncio.sleep(0.02)

    async def _receive(self, request: web.Request) -> web.Response:
        mode = self.mode
        self.requests[mode] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = json.loads(await request.read())
            if not signature_is_valid(self._access_key, request.headers, body):
                self.bad_signatures += 1
                return web.json_response({"resultCode": "000001"}, status=401)
            assert self._pool is not None
            status = await self._pool.fetchval("SELECT status FROM events WHERE event_id = $1", body["eventId"])
            if status is None:
                self.before_commit.append(body["eventId"])
            if mode == "fail":
                return web.json_response({"resultCode": "999999", "resultMsg": "platform busy"}, status=500)
            if mode == "hang":
                await asyncio.sleep(HANG_S)
            self.status_on_arrival.setdefault(body["eventId"], status)
            self.acks.setdefault(body["eventId"], []).append(body)
            return web.json_response({"resultCode": "000000", "resultMsg": "ok"})
        finally:
            self.in_flight -= 1
