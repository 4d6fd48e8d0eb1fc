"""The gateway's metrics: calls by interface and resultCode, how long answering and storing take."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.errors import ResultCode
from schemas.calls import Interface
from schemas.instance_calls import Activity

# A path names any interface it likes; only the five real ones (and the six instance activities of
# SPEC §9) become label values.
UNKNOWN_INTERFACE = "unknown"
_INTERFACES = frozenset(interface.value for interface in Interface) | frozenset(activity.value for activity in Activity)
# From a call answered out of memory to a 32 MiB full sync over a slow link (the body read is bounded at 60 s).
_REQUEST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# acks=all on a healthy cluster takes milliseconds; produce_timeout_s (5 s by default) is the ceiling.
_PRODUCE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """Registered on `registry` when created; one per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "syncpipe_gateway_calls",
            "Sync calls answered, by interface (as routed; 'unknown' for any other name) and resultCode.",
            ["interface", "result_code"],
            registry=registry,
        )
        self.abandoned = Counter(
            "syncpipe_gateway_calls_abandoned",
            "Calls whose sender closed the connection before its body arrived: no answer, nothing stored.",
            ["interface"],
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
        # Every label set made once, so counting a call is a dictionary lookup and an increment.
        self._calls: dict[tuple[str, ResultCode], Counter] = {}
        self._request_seconds: dict[str, Histogram] = {}
        for interface in (*sorted(_INTERFACES), UNKNOWN_INTERFACE):
            self._request_seconds[interface] = self.request_seconds.labels(interface)
            for code in ResultCode:
                self._calls[interface, code] = self.calls.labels(interface, code.value)
        self._stored = self.produce_seconds.labels("stored")
        self._not_stored = self.produce_seconds.labels("not_stored")

    def observe_call(self, interface: str, code: ResultCode, seconds: float) -> None:
        label = interface if interface in _INTERFACES else UNKNOWN_INTERFACE
        self._calls[label, code].inc()
        self._request_seconds[label].observe(seconds)

    def observe_abandoned(self, interface: str) -> None:
        self.abandoned.labels(interface if interface in _INTERFACES else UNKNOWN_INTERFACE).inc()

    def observe_produce(self, stored: bool, seconds: float) -> None:
        (self._stored if stored else self._not_stored).observe(seconds)
