"""Gateway: signed calls per second at saturation, and latency at a fixed rate, side by side with
the constant-200 ceiling of the same HTTP stack, what a user would write instead (FastAPI + uvicorn,
verify, validate, `send_and_wait` with acks=all: benchmarks/fastapi_endpoint.py) and the naive
verify-then-insert-into-Postgres endpoint.

Each server runs in a process of its own, the load generator in another (benchmarks/http_load.py).
The fixed rate is half of what syncpipe's gateway sustained at saturation in its first round, the
same for all four.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.services import REPO, BenchmarkError, BenchServices, Child, Pipeline
from runtime.topics import ensure_topics

VARIANTS = ("syncpipe", "ceiling", "fastapi", "naive")


async def run_load(
    services: BenchServices,
    pipeline: Pipeline,
    port: int,
    name: str,
    config: BenchConfig,
    *,
    rate: float | None = None,
    duration_s: float | None = None,
    keep_events: bool = False,
    warmup_calls: int | None = None,
) -> dict[str, Any]:
    """Run the load generator process once; return its summary plus its own CPU use."""
    out = services.run_dir / f"load-{name}-{'saturation' if rate is None else 'rate'}.json"
    args = ["-m", "benchmarks.http_load", "--port", str(port), "--out", str(out)]
    args += ["--duration", str(duration_s or config.gateway_duration_s), "--connections", str(config.connections)]
    args += [
        "--tenants",
        str(config.tenants),
        "--warmup",
        str(config.gateway_warmup_calls if warmup_calls is None else warmup_calls),
    ]
    if rate is not None:
        args += ["--rate", f"{rate:.1f}"]
    if keep_events:
        args.append("--keep-events")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = await asyncio.create_subprocess_exec(sys.executable, *args, cwd=REPO, env={**os.environ, **pipeline.env})
    if await process.wait() != 0:
        raise BenchmarkError(f"load generator for {name} exited with {process.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary: dict[str, Any] = json.loads(out.read_text())
    summary["generator_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return summary


def start_server(services: BenchServices, variant: str, pipeline: Pipeline) -> tuple[Child, int]:
    port = int(pipeline.env["SYNCPIPE_GATEWAY_PORT"])
    if variant == "syncpipe":
        args = ["-m", "syncpipe", "gateway"]
    elif variant == "fastapi":
        args = ["-m", "benchmarks.fastapi_endpoint", "--port", str(port)]
    else:
        args = ["-m", "benchmarks.http_servers", variant, "--port", str(port)]
    return services.start(f"server-{variant}", args, pipeline.env, port=port), port


async def measure_variant(
    services: BenchServices, variant: str, config: BenchConfig, fixed_rate: float | None
) -> dict[str, Any]:
    """Saturation, then (once the fixed rate is known) the fixed-rate run, on one server process."""
    pipeline = await services.pipeline()
    if variant == "fastapi":  # the gateway creates its topics itself; a user's are created by whoever runs Kafka
        await ensure_topics(services.topic_settings(pipeline))
    server, port = start_server(services, variant, pipeline)
    try:
        cpu_before = server.cpu_s()
        saturation = await run_load(services, pipeline, port, variant, config)
        server_cpu = server.cpu_s() - cpu_before
        rate = fixed_rate if fixed_rate is not None else saturation["accepted_per_s"] / 2
        at_rate = await run_load(services, pipeline, port, variant, config, rate=rate)
        server.check_alive()
    finally:
        services.stop(server)
    answered = saturation["sent"] or 1
    return {
        "saturation_calls_s": saturation["accepted_per_s"],
        "saturation_latency_ms": saturation["latency_ms"],
        "saturation_codes": saturation["codes"],
        "server_cpu_us_per_call": server_cpu / answered * 1e6,
        "generator_cpu_us_per_call": saturation["generator_cpu_s"] / answered * 1e6,
        "fixed_rate_calls_s": rate,
        "fixed_rate_achieved_calls_s": at_rate["accepted_per_s"],
        "fixed_rate_latency_ms": at_rate["latency_ms"],
        "fixed_rate_codes": at_rate["codes"],
    }


async def run_gateway(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    """`config.rounds` rounds of the three variants in turn; each variant's best round is reported
    (other processes on the machine only ever slow a run down), every round is kept."""
    rounds: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    fixed_rate: float | None = None
    for _ in range(config.rounds):
        for variant in VARIANTS:
            figure = await measure_variant(services, variant, config, fixed_rate)
            fixed_rate = figure["fixed_rate_calls_s"]  # set by syncpipe's first round, kept for all
            rounds[variant].append(figure)
    variants = {variant: _best(figures) for variant, figures in rounds.items()}
    syncpipe, ceiling, fastapi = (variants[name] for name in ("syncpipe", "ceiling", "fastapi"))
    return {
        "fixed_rate_calls_s": fixed_rate,
        "connections": config.connections,
        "duration_s": config.gateway_duration_s,
        "rounds": config.rounds,
        "variants": variants,
        "share_of_ceiling": _ratio(syncpipe["saturation_calls_s"], ceiling["saturation_calls_s"]),
        "cpu_per_call_vs_ceiling": _ratio(syncpipe["server_cpu_us_per_call"], ceiling["server_cpu_us_per_call"]),
        "vs_fastapi": _ratio(syncpipe["saturation_calls_s"], fastapi["saturation_calls_s"]),
        "cpu_per_call_vs_fastapi": _ratio(syncpipe["server_cpu_us_per_call"], fastapi["server_cpu_us_per_call"]),
        "all_rounds": rounds,
    }


def _ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else 0.0


def _best(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest saturation throughput and, separately, the fixed-rate run with the lowest p99."""
    best = dict(max(figures, key=lambda figure: figure["saturation_calls_s"]))
    calmest = min(figures, key=lambda figure: figure["fixed_rate_latency_ms"]["p99"])
    for key in ("fixed_rate_achieved_calls_s", "fixed_rate_latency_ms", "fixed_rate_codes"):
        best[key] = calmest[key]
    return best
