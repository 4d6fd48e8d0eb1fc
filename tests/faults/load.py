"""Platform traffic for a fault scenario: the simulator's seeded workload, sent at a steady pace.

The calls come from `syncpipe.simulation` (generator, delivery order with re-sent duplicates,
`PlatformSender` signing as the platform does and retrying `000005` or no answer). Pacing spreads
them over several seconds so that the faults a scenario injects land in the middle of the traffic.
A load can also be cut short (`run(until=...)`): a scenario whose faults last as long as a broker
takes to restart keeps calls arriving until its faults are over, from a workload planned big enough.
Every POST the sender makes is timed, so a scenario can tell how fast `000005` came back and what
the gateway answered while a fault lasted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import NamedTuple

import aiohttp

from schemas.calls import AnyCall, parse_call
from schemas.event_id import event_id
from syncpipe.simulation.delivery import Delivery, delivery_order
from syncpipe.simulation.generator import PlatformCall, WorkloadSizes, generate_history
from syncpipe.simulation.sender import ACCEPTED, Answer, PlatformSender

# The HTTP status of the gateway's `000005` (gateway.app): the call was not stored, try again.
NOT_STORED_STATUS = 503


class Post(NamedTuple):
    """One HTTP request to the gateway: its status (None: no answer), when it started and ended (monotonic)."""

    status: int | None
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class Outcome(NamedTuple):
    delivery: Delivery
    answer: Answer


class PlatformLoad:
    """Sends `deliveries` to the gateway, `rate_per_s` of them started per second, at most `concurrency` at once
    (a delivery holds its place while the sender waits to retry it)."""

    def __init__(
        self,
        gateway_url: str,
        access_key: str,
        deliveries: Sequence[Delivery],
        *,
        rate_per_s: float,
        concurrency: int = 16,
        retry_delays_s: Sequence[float] = (0.2, 0.5, 1.0, 2.0),
    ) -> None:
        self._gateway_url = gateway_url
        self._access_key = access_key
        self.planned = list(deliveries)
        self._rate_per_s = rate_per_s
        self._concurrency = concurrency
        self._retry_delays_s = tuple(retry_delays_s)
        self.outcomes: list[Outcome] = []
        self.posts: list[Post] = []
        self.finished = asyncio.Event()

    @classmethod
    def simulated(
        cls,
        gateway_url: str,
        access_key: str,
        *,
        seed: int,
        tenants: int,
        sizes: WorkloadSizes,
        **options: object,
    ) -> PlatformLoad:
        """The simulator's workload for `seed`, shuffled within a window of 20, a tenth of it re-sent."""
        history = generate_history(seed, tenants, sizes)
        calls = sorted(history, key=lambda call: str(call.body["timeStamp"]))
        deliveries = delivery_order(calls, seed, window=20, resend_fraction=0.1)
        return cls(gateway_url, access_key, deliveries, **options)  # type: ignore[arg-type]

    async def run(self, until: asyncio.Event | None = None) -> None:
        """Send every planned delivery, or with `until` those whose turn came before it was set;
        returns when each sent one has its final answer (after the sender's retries)."""
        semaphore = asyncio.Semaphore(self._concurrency)
        started = time.monotonic()
        # One connection per delivery in flight: a request never waits for one (its time is the gateway's).
        connector = aiohttp.TCPConnector(limit=self._concurrency)
        async with aiohttp.ClientSession(connector=connector, trace_configs=[self._timing()]) as session:
            sender = PlatformSender(session, self._gateway_url, self._access_key, retry_delays_s=self._retry_delays_s)

            async def send(index: int, delivery: Delivery) -> Outcome | None:
                turn = max(0.0, started + index / self._rate_per_s - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(turn):
                        await (until or asyncio.Event()).wait()  # whichever comes first
                async with semaphore:
                    if until is not None and until.is_set():
                        return None
                    return Outcome(delivery, await sender.send(delivery.call))

            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(send(i, d)) for i, d in enumerate(self.planned)]
            finally:
                self.finished.set()
        self.outcomes = [outcome for task in tasks if (outcome := task.result()) is not None]

    @property
    def deliveries(self) -> list[Delivery]:
        """The deliveries sent (all of the planned ones unless the run was cut short)."""
        return [outcome.delivery for outcome in self.outcomes]

    @property
    def cut_short(self) -> bool:
        return len(self.outcomes) < len(self.planned)

    def accepted(self) -> dict[str, AnyCall]:
        """The calls answered `000000`, by the event id the gateway answered (one entry per distinct call)."""
        calls: dict[str, AnyCall] = {}
        for delivery, answer in self.outcomes:
            if answer.result_code == ACCEPTED:
                assert answer.event_id is not None
                calls[answer.event_id] = parse(delivery.call)
        return calls

    def refused(self) -> dict[str, str]:
        """Event id -> final answer of the calls never answered `000000` (after every retry)."""
        accepted = self.accepted()
        return {
            event_id(parse(delivery.call)): answer.result_code
            for delivery, answer in self.outcomes
            if answer.result_code != ACCEPTED and event_id(parse(delivery.call)) not in accepted
        }

    def accepted_deliveries(self) -> int:
        return sum(answer.result_code == ACCEPTED for _, answer in self.outcomes)

    def retried(self) -> int:
        """Deliveries that needed more than one POST (000005 or no answer first)."""
        return sum(answer.attempts > 1 for _, answer in self.outcomes)

    def refusals(self) -> list[Post]:
        """The POSTs answered `000005`."""
        return [post for post in self.posts if post.status == NOT_STORED_STATUS]

    def _timing(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def on_start(_: aiohttp.ClientSession, context: SimpleNamespace, __: object) -> None:
            context.started = time.monotonic()

        async def on_end(_: aiohttp.ClientSession, context: SimpleNamespace, params: object) -> None:
            response = getattr(params, "response", None)
            status = response.status if response is not None else None
            self.posts.append(Post(status, context.started, time.monotonic()))

        trace.on_request_start.append(on_start)
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_end)
        return trace


def parse(call: PlatformCall) -> AnyCall:
    return parse_call(call.interface, call.body)
