"""How big and how long each benchmark runs: the full run, `--quick`, and the smoke test's `--smoke`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchConfig:
    mode: str
    # Gateway: seconds of load per measurement, concurrent connections, tenants the calls spread over.
    gateway_duration_s: float
    gateway_warmup_calls: int
    connections: int
    tenants: int
    # Apply: incremental changes fed to syncpipe's worker, to the naive consumer (slower: fewer, the
    # figure is a rate), and written by the bare insert.
    apply_events: int
    naive_events: int
    # Growth: the same apply run over few and over many tenants.
    growth_tenants: tuple[int, int]
    # Full sync: department counts of the allOrgSync calls.
    full_sync_sizes: tuple[int, ...]
    # End to end: calls per second for this long, over `tenants` tenants.
    end_to_end_rate: float
    end_to_end_duration_s: float
    # Rounds of the gateway and apply comparisons; the best of each is reported (a shared machine's
    # other work only ever slows a run down).
    rounds: int = 1
    # Consumers' session timeout. The embedded Tansu holds a new group's first join for half of it,
    # and a consumer paused while its events are produced must not be evicted meanwhile. Raised to
    # the broker's minimum where it has one (Apache Kafka: 6 s, benchmarks/brokers.py).
    session_timeout_ms: int = 10_000
    # Acks: events/s committed for this long (latency), and owed acks sent from a full outbox (throughput).
    ack_rate: float = 1000.0
    ack_duration_s: float = 15.0
    ack_events: int = 40_000


FULL = BenchConfig(
    mode="full",
    gateway_duration_s=6.0,
    gateway_warmup_calls=1000,
    connections=64,
    tenants=1000,
    apply_events=40_000,
    naive_events=4_000,
    growth_tenants=(10, 10_000),
    full_sync_sizes=(1_000, 10_000, 100_000),
    end_to_end_rate=1000.0,
    end_to_end_duration_s=15.0,
    rounds=2,
)

QUICK = BenchConfig(
    mode="quick",
    gateway_duration_s=3.0,
    gateway_warmup_calls=500,
    connections=64,
    tenants=1000,
    apply_events=10_000,
    naive_events=1_500,
    growth_tenants=(10, 10_000),
    full_sync_sizes=(1_000, 10_000, 100_000),
    end_to_end_rate=1000.0,
    end_to_end_duration_s=5.0,
    ack_duration_s=5.0,
    ack_events=20_000,
)

# The smallest configuration that still runs every code path (the smoke test); its figures mean nothing.
SMOKE = BenchConfig(
    mode="smoke",
    gateway_duration_s=0.5,
    gateway_warmup_calls=20,
    connections=4,
    tenants=20,
    apply_events=200,
    naive_events=50,
    growth_tenants=(2, 50),
    full_sync_sizes=(100, 1_000),
    end_to_end_rate=100.0,
    end_to_end_duration_s=1.0,
    session_timeout_ms=2_000,
    ack_rate=100.0,
    ack_duration_s=1.0,
    ack_events=300,
)

CONFIGS = {config.mode: config for config in (FULL, QUICK, SMOKE)}
