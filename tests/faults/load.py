"""Platform traffic for a fault scenario: the simulator's seeded workload, sent at a steady pace.

The calls come from `syncpipe.simulation` (generator, delivery order with re-sent duplicates,
`PlatformSender` signing as the platform does and retrying `000005` or no answer). Pacing spreads
them over several seconds so that the faults a scenario injects land in the middle of the traffic.
Every POST the sender makes is timed, so a scenario can tell how fast `000005` came back.
"""

from __future__ import annotations

import asyncio
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


class Post(NamedTuple):
    """One HTTP request to the gateway: its status (None: no answer) and how long it took."""

    status: int | None
    seconds: float


class Outcome(NamedTuple):
    delivery: Delivery
    answer: Answer


class PlatformLoad:
    """Sends `deliveries` to the gateway, `rate_per_s` of them started per second, at most `concurrency` at once."""

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
        self.deliveries = list(deliveries)
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

    async def run(self) -> None:
        """Send every delivery; returns when each has its final answer (after the sender's retries)."""
        semaphore = asyncio.Semaphore(self._concurrency)
        started = time.monotonic()
        async with aiohttp.ClientSession(trace_configs=[self._timing()]) as session:
            sender = PlatformSender(session, self._gateway_url, self._access_key, retry_delays_s=self._retry_delays_s)

            async def send(index: int, delivery: Delivery) -> Outcome:
                await asyncio.sleep(max(0.0, started + index / self._rate_per_s - time.monotonic()))
                async with semaphore:
                    return Outcome(delivery, await sender.send(delivery.call))

            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(send(i, d)) for i, d in enumerate(self.deliveries)]
            finally:
                self.finished.set()
        self.outcomes = [task.result() for task in tasks]

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

    def _timing(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def on_start(_: aiohttp.ClientSession, context: SimpleNamespace, __: object) -> None:
            context.started = time.monotonic()

        async def on_end(_: aiohttp.ClientSession, context: SimpleNamespace, params: object) -> None:
            response = getattr(params, "response", None)
            status = response.status if response is not None else None
            self.posts.append(Post(status, time.monotonic() - context.started))

        trace.on_request_start.append(on_start)
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_end)
        return trace


def parse(call: PlatformCall) -> AnyCall:
    return parse_call(call.interface, call.body)
