"""What the gateway's two routes (the sync calls, gateway.app; the instance calls, gateway.instance_intake)
are given and do alike: their bodies held in one in-flight budget, each read into it as it arrives,
and their events stored by one publisher, every produce measured.

The two routes share the budget and each client's share of unverified bytes in it
(gateway.admission), so that neither route can be used to starve the other.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from gateway.admission import Admission, InFlightBudget
from gateway.metrics import GatewayMetrics
from gateway.publisher import EventPublisher
from gateway.request_body import read_body
from runtime.settings import Settings
from schemas.envelope import KafkaRecord


class HeldBody:
    """A request's body, whole, its bytes held in the in-flight budget until its call is answered."""

    def __init__(self, raw: bytes, client: str, admission: Admission, budget: InFlightBudget) -> None:
        self.raw = raw
        self._client = client
        self._admission = admission
        self._budget = budget

    def signature_verified(self) -> None:
        """Its bytes no longer count in its client's share of unverified bytes."""
        self._admission.verified_signature()

    def nonce_checked(self) -> None:
        """Its call passed the signature and the nonce check: its client is proven for a while."""
        self._budget.prove(self._client)


class Intake:
    """The in-flight budget, the body timeout, the publisher and the metrics both routes' handlers use."""

    def __init__(
        self, settings: Settings, publisher: EventPublisher, *, body_timeout_s: float, metrics: GatewayMetrics
    ) -> None:
        self.metrics = metrics
        self._publisher = publisher
        self._body_timeout_s = body_timeout_s
        self._budget = InFlightBudget(
            settings.gateway_max_in_flight_bytes,
            wait_s=settings.produce_timeout_s,
            unverified_per_client=settings.gateway_max_unverified_bytes_per_client,
        )

    @contextlib.asynccontextmanager
    async def body(self, request: web.Request, limit_bytes: int) -> AsyncIterator[HeldBody]:
        """`async with intake.body(request, limit) as body:` the body of `request`, read as its bytes
        arrive into the budget (counted in its client's unverified share until `signature_verified`),
        within `limit_bytes` and the body timeout, and held there until the block ends."""
        client = request.remote or ""
        async with self._budget.admit(client) as admission:
            raw = await read_body(request, limit_bytes, self._body_timeout_s, admission.take)
            yield HeldBody(raw, client, admission, self._budget)

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        """Store an event's records (gateway.publisher), its time and outcome counted."""
        started = time.perf_counter()
        try:
            await self._publisher.publish(records)
        except BaseException:
            self.metrics.observe_produce(stored=False, seconds=time.perf_counter() - started)
            raise
        self.metrics.observe_produce(stored=True, seconds=time.perf_counter() - started)
