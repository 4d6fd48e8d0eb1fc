"""How much request body the gateway holds at once: bytes counted as they arrive, bounded in total and,
for a client that has not proven it holds a key, per client.

A body is charged as its bytes arrive, never from the length it declares: a sender that declares
32 MiB and sends one byte holds one byte. Until its signature is verified a body is unverified, and
one client (an IP address) may hold at most `unverified_per_client` bytes of unverified bodies, so
that nobody without a key fills the budget from one address by sending most of several bodies and
stalling. A client whose call passed the signature and the nonce check lately (`PROVEN_FOR_S`) is
proven and not held to that share: it is the platform, and its calls may arrive side by side.
Behind a load balancer every client has its address: the share is then the load balancer's, until
its first verified call makes it proven.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType

from gateway.errors import NotStored

# A proven client stays proven this long after its last verified call: the platform's quiet hours
# cost it nothing but its next call being held to the share (which fits any one body).
PROVEN_FOR_S = 3600.0
# Addresses remembered as proven, the least recently verified forgotten first: the platform sends
# from a handful; an address forgotten early is only held to the share again.
PROVEN_CLIENTS = 4096

_AT_LIMIT = "the gateway is at its limit of calls in progress; try again"


class InFlightBudget:
    """At most `max_bytes` of bodies received, parsed or being stored at once; of bodies not verified
    yet, at most `unverified_per_client` per client that is not proven (None: no such share).

    A body's bytes are taken as they arrive (`Admission.take`) and given back once the call is
    answered. A take that does not fit waits, its bytes unread (TCP pushes back on the sender), for
    up to `wait_s` in all per call, then raises NotStored (000005, safe to retry). Calls that all wait
    while holding bytes would wait for each other until their time ran out: then the youngest is
    refused at once and gives its bytes to the others. Single event loop, no locking.
    """

    def __init__(
        self,
        max_bytes: int,
        wait_s: float,
        *,
        unverified_per_client: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_bytes = max_bytes
        self._wait_s = wait_s
        self._share = unverified_per_client
        self._clock = clock
        self._used = 0
        self._unverified: dict[str, int] = {}
        self._proven: OrderedDict[str, float] = OrderedDict()
        self._holding: set[Admission] = set()
        self._waiting: set[Admission] = set()
        self._freed = asyncio.Event()
        self._arrivals = itertools.count()

    @property
    def used(self) -> int:
        return self._used

    def unverified(self, client: str) -> int:
        return self._unverified.get(client, 0)

    def admit(self, client: str) -> Admission:
        """`async with budget.admit(client) as admission:` a call's share of the budget, empty at first."""
        return Admission(self, client, next(self._arrivals))

    def prove(self, client: str) -> None:
        """`client` made a call that passed the signature and the nonce check: not held to the share."""
        self._proven[client] = self._clock() + PROVEN_FOR_S
        self._proven.move_to_end(client)
        while len(self._proven) > PROVEN_CLIENTS:
            self._proven.popitem(last=False)

    def is_proven(self, client: str) -> bool:
        until = self._proven.get(client)
        if until is None:
            return False
        if until < self._clock():
            del self._proven[client]
            return False
        return True

    def _fits(self, admission: Admission, size: int) -> bool:
        if self._used + size > self._max_bytes:
            return False
        if admission.verified or self._share is None:
            return True
        client = admission.client
        return self._unverified.get(client, 0) + size <= self._share or self.is_proven(client)

    async def _take(self, admission: Admission, size: int) -> None:
        while not self._fits(admission, size):  # the common case, room, costs no timer
            await self._wait(admission)
        self._used += size
        admission.held += size
        self._holding.add(admission)
        if not admission.verified:
            self._unverified[admission.client] = self._unverified.get(admission.client, 0) + size

    async def _wait(self, admission: Admission) -> None:
        loop = asyncio.get_running_loop()
        if admission.deadline is None:
            admission.deadline = loop.time() + self._wait_s
        self._waiting.add(admission)
        try:
            self._refuse_the_youngest_if_all_wait()
            if not admission.refused:
                self._freed.clear()
                async with asyncio.timeout_at(admission.deadline):
                    await self._freed.wait()
        except TimeoutError:
            raise NotStored(_AT_LIMIT) from None
        finally:
            self._waiting.discard(admission)
        if admission.refused:
            raise NotStored(_AT_LIMIT)

    def _refuse_the_youngest_if_all_wait(self) -> None:
        """If every call holding bytes waits for more, none can finish and give any back: refuse the
        youngest (it has the least done), so the others go on."""
        if any(holder not in self._waiting for holder in self._holding):
            return
        youngest = max(self._holding, key=lambda holder: holder.arrival, default=None)
        if youngest is not None and not youngest.refused:
            youngest.refused = True
            self._freed.set()

    def _verified(self, admission: Admission) -> None:
        if admission.verified:
            return
        admission.verified = True
        self._give_back_unverified(admission)
        self._wake()

    def _release(self, admission: Admission) -> None:
        if not admission.verified:
            self._give_back_unverified(admission)
        self._used -= admission.held
        admission.held = 0
        self._holding.discard(admission)
        self._wake()

    def _give_back_unverified(self, admission: Admission) -> None:
        left = self._unverified.get(admission.client, 0) - admission.held
        if left > 0:
            self._unverified[admission.client] = left
        else:
            self._unverified.pop(admission.client, None)

    def _wake(self) -> None:
        if self._waiting:
            self._freed.set()


class Admission:
    """One call's bytes in the budget: taken as they arrive, all given back when its `async with` ends."""

    __slots__ = ("_budget", "arrival", "client", "deadline", "held", "refused", "verified")

    def __init__(self, budget: InFlightBudget, client: str, arrival: int) -> None:
        self._budget = budget
        self.client = client
        self.arrival = arrival  # order of arrival: the youngest is refused first
        self.held = 0
        self.verified = False
        self.refused = False
        self.deadline: float | None = None  # event loop time its waiting ends, set at its first wait

    async def take(self, size: int) -> None:
        """Hold `size` more bytes; waits for room (NotStored once the call has waited `wait_s` in all)."""
        await self._budget._take(self, size)

    def verified_signature(self) -> None:
        """The body's signature is verified: its bytes no longer count in its client's unverified share."""
        self._budget._verified(self)

    async def __aenter__(self) -> Admission:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._budget._release(self)
