"""What this process's own metrics say about the pipeline: consumer lag and calls answered by the gateway.

Read from the same text a Prometheus scrape of `/metrics` gets (refreshes included), so the console
shows exactly what the dashboards do. Only a process that runs a worker (`syncpipe up`) knows the lag,
and only one that runs the gateway its calls; a read API on its own knows neither and says so (None),
rather than showing zeros that would look like a healthy pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from runtime.ops_server import Metrics

CONSUMER_LAG = "syncpipe_worker_consumer_lag"
GATEWAY_CALLS = "syncpipe_gateway_calls"


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    lag: int


@dataclass(frozen=True)
class ProcessReadings:
    consumer_lag: list[PartitionLag] | None  # None: no worker in this process
    gateway_calls: dict[str, int] | None  # interface -> calls answered since start; None: no gateway here


async def read_process_metrics(metrics: Metrics) -> ProcessReadings:
    exposition = (await metrics.exposition()).decode()
    lag: list[PartitionLag] | None = None
    calls: dict[str, int] | None = None
    for family in text_string_to_metric_families(exposition):
        if family.name == CONSUMER_LAG:
            lag = sorted(
                (
                    PartitionLag(sample.labels["topic"], int(sample.labels["partition"]), int(sample.value))
                    for sample in family.samples
                ),
                key=lambda reading: (reading.topic, reading.partition),
            )
        elif family.name == GATEWAY_CALLS:
            calls = {}
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    interface = sample.labels["interface"]
                    calls[interface] = calls.get(interface, 0) + int(sample.value)
    return ProcessReadings(lag, calls)
