"""How much request body the gateway holds at once: a byte budget, reserved before a body is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import NotStored


class InFlightBudget:
    """At most `max_bytes` of bodies read, parsed or being stored at once.

    A call reserves its declared Content-Length (or, sent chunked, the largest body its interface
    allows) before its body is read, and gives it back once answered. When there is no room it waits,
    its body unread (TCP pushes back on the sender), for up to `wait_s`, then is answered 000005
    (safe to retry). Waiters hold a socket and their headers only. Single event loop, no locking.
    """

    def __init__(self, max_bytes: int, wait_s: float) -> None:
        self._max_bytes = max_bytes
        self._wait_s = wait_s
        self._used = 0
        self._freed = asyncio.Event()

    @property
    def used(self) -> int:
        return self._used

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        size = min(size, self._max_bytes)  # a call the budget cannot hold at all waits for it to be empty
        try:
            async with asyncio.timeout(self._wait_s):
                while self._used + size > self._max_bytes:
                    self._freed.clear()
                    await self._freed.wait()
        except TimeoutError:
            raise NotStored("the gateway is at its limit of calls in progress; try again") from None
        self._used += size
        try:
            yield
        finally:
            self._used -= size
            self._freed.set()
