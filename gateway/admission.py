"""How much request body the gateway holds at once: a byte budget, reserved before a body is read."""

from __future__ import annotations

import asyncio
from types import TracebackType

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
        self._waiting = 0
        self._freed = asyncio.Event()

    @property
    def used(self) -> int:
        return self._used

    def reserve(self, size: int) -> Reservation:
        """`async with budget.reserve(size):` holds `size` bytes of the budget (NotStored if no room in time)."""
        return Reservation(self, min(size, self._max_bytes))  # a call the budget cannot hold waits for it to be empty

    async def _take(self, size: int) -> None:
        if self._used + size > self._max_bytes:  # the common case, room, costs no timer
            self._waiting += 1
            try:
                async with asyncio.timeout(self._wait_s):
                    while self._used + size > self._max_bytes:
                        self._freed.clear()
                        await self._freed.wait()
            except TimeoutError:
                raise NotStored("the gateway is at its limit of calls in progress; try again") from None
            finally:
                self._waiting -= 1
        self._used += size

    def _give_back(self, size: int) -> None:
        self._used -= size
        if self._waiting:
            self._freed.set()


class Reservation:
    """What `InFlightBudget.reserve` returns: its bytes are held inside the `async with`."""

    __slots__ = ("_budget", "_size")

    def __init__(self, budget: InFlightBudget, size: int) -> None:
        self._budget = budget
        self._size = size

    async def __aenter__(self) -> None:
        await self._budget._take(self._size)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._budget._give_back(self._size)
