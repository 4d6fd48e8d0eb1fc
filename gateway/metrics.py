"""The gateway's metrics: calls by interface and resultCode, how long answering and storing take."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.errors import ResultCode
from gateway.publisher import EventPublisher
from schemas.calls import Interface
from schemas.envelope import EventEnvelope

# A path names any interface it likes; only the five real ones become label values.
UNKNOWN_INTERFACE = "unknown"
_INTERFACES = frozenset(interface.value for interface in Interface)
# From a call answered out of memory to a 32 MiB full sync over a slow link (the body read is bounded at 60 s).
_REQUEST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# acks=all on a healthy cluster takes milliseconds; produce_timeout_s (5 s by default) is the ceiling.
_PRODUCE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def interface_label(name: str) -> str:
    return name if name in _INTERFACES else UNKNOWN_INTERFACE


class GatewayMetrics:
    """Registered on `registry` when created; one per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "syncpipe_gateway_calls",
            "Sync calls answered, by interface (as routed; 'unknown' for any other name) and resultCode.",
            ["interface", "result_code"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "syncpipe_gateway_request_duration_seconds",
            "Time from a call's arrival to its answer, body read, verification and storing included.",
            ["interface"],
            buckets=_REQUEST_BUCKETS_S,
            registry=registry,
        )
        self.produce_seconds = Histogram(
            "syncpipe_gateway_produce_duration_seconds",
            "Time to get an event acknowledged by the broker (acks=all), by outcome (stored / not_stored).",
            ["outcome"],
            buckets=_PRODUCE_BUCKETS_S,
            registry=registry,
        )
        for interface in (*sorted(_INTERFACES), UNKNOWN_INTERFACE):
            self.request_seconds.labels(interface)
            for code in ResultCode:
                self.calls.labels(interface, code.value)
        for outcome in ("stored", "not_stored"):
            self.produce_seconds.labels(outcome)

    def observe_call(self, interface: str, code: ResultCode, seconds: float) -> None:
        label = interface_label(interface)
        self.calls.labels(label, code.value).inc()
        self.request_seconds.labels(label).observe(seconds)


class MeasuredPublisher:
    """An EventPublisher that times every `publish` of the one it wraps."""

    def __init__(self, publisher: EventPublisher, metrics: GatewayMetrics) -> None:
        self._publisher = publisher
        self._metrics = metrics

    async def publish(self, envelope: EventEnvelope) -> None:
        started = time.perf_counter()
        outcome = "not_stored"
        try:
            await self._publisher.publish(envelope)
            outcome = "stored"
        finally:
            self._metrics.produce_seconds.labels(outcome).observe(time.perf_counter() - started)

    async def is_reachable(self) -> bool:
        return await self._publisher.is_reachable()
