"""What a call costs the gateway, part by part: the same load against the gateway with parts taken away.

    python -m benchmarks.gateway_parts [--rounds 2] [--duration 5]

Server CPU per call (user + system, from /proc) under saturation, for:
 - the gateway as it runs (`syncpipe gateway`);
 - the gateway without its line per call (`--log-level WARNING`);
 - the gateway application with a publisher that stores nothing (no broker), with and without
   its line per call;
 - the gateway with tracing on (`OTEL_TRACES_EXPORTER=console`: every span serialised and written
   to the server's log file by the SDK's batch processor), against the first row where it is off;
 - the ceiling: the same HTTP stack answering a constant 200.
Differences between rows are what the broker path and the log line cost; the row without both,
minus the ceiling, is the gateway's own work (body, JSON, signature, validation, event id,
envelope, metrics). CPU per call is steadier than calls/s on a shared machine; the best round counts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from benchmarks.config import QUICK
from benchmarks.gateway_bench import run_load
from benchmarks.services import BenchServices

VARIANTS: dict[str, list[str]] = {
    "gateway": ["-m", "syncpipe", "gateway"],
    "gateway, tracing on": ["-m", "syncpipe", "gateway"],
    "gateway, no line per call": ["-m", "syncpipe", "--log-level", "WARNING", "gateway"],
    "no broker": ["-m", "benchmarks.http_servers", "gateway-no-broker"],
    "no broker, no line per call": ["-m", "benchmarks.http_servers", "gateway-no-broker", "--log-level", "WARNING"],
    "ceiling": ["-m", "benchmarks.http_servers", "ceiling"],
}
# Variants that differ from the first row only by their environment.
EXTRA_ENVIRONMENT: dict[str, dict[str, str]] = {
    "gateway, tracing on": {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "syncpipe-bench"},
}


async def measure(services: BenchServices, name: str, args: list[str], duration_s: float) -> dict[str, float]:
    pipeline = await services.pipeline()
    port = int(pipeline.env["SYNCPIPE_GATEWAY_PORT"])
    if args[1] == "benchmarks.http_servers":
        args = [*args, "--port", str(port)]
    environment = {**pipeline.env, **EXTRA_ENVIRONMENT.get(name, {})}
    server = services.start("server", args, environment, port=port)
    try:
        await run_load(services, pipeline, port, "warm-up", QUICK, duration_s=1.0)
        before = server.cpu_s()
        load = await run_load(services, pipeline, port, "parts", QUICK, duration_s=duration_s)
        cpu_s = server.cpu_s() - before
        server.check_alive()
    finally:
        services.stop(server)
    return {"calls_s": load["accepted_per_s"], "cpu_us_per_call": cpu_s / (load["sent"] or 1) * 1e6}


async def run(
    services: BenchServices, rounds: int, duration_s: float, variants: Mapping[str, list[str]] = VARIANTS
) -> dict[str, dict[str, float]]:
    """Each variant measured `rounds` times in turn; the round of least CPU per call kept."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for name, args in variants.items():
            figure = await measure(services, name, args, duration_s)
            if name not in best or figure["cpu_us_per_call"] < best[name]["cpu_us_per_call"]:
                best[name] = figure
    return best


def render(best: dict[str, dict[str, Any]]) -> str:
    full = best["gateway"]["cpu_us_per_call"]
    lines = [f"{'variant':<30} | {'calls/s':>8} | {'CPU us/call':>11} | {'vs gateway':>10}", "-" * 68]
    for name, figure in best.items():
        cpu = figure["cpu_us_per_call"]
        lines.append(f"{name:<30} | {figure['calls_s']:>8,.0f} | {cpu:>11.1f} | {cpu - full:>+10.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_parts", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of saturation per measurement")
    args = parser.parse_args(argv)
    with BenchServices() as services:
        best = asyncio.run(run(services, args.rounds, args.duration))
    print(render(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
