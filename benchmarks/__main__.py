"""`python -m benchmarks [--broker apache|tansu|both] [--quick | --smoke] [--only SECTIONS] [--output FILE]`

For each broker chosen (both by default, Apache Kafka first: its figures are the headline), starts
it in the shape of benchmarks/brokers.py and a durable Postgres, runs every comparison side by side
(each process under test in a process of its own), then prints one table with a broker column and
writes the JSON result (benchmarks/results/latest.json by default). See docs/benchmarks-howto.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.acks import run_acks
from benchmarks.apply_bench import run_apply, run_apply_growth, run_scale
from benchmarks.brokers import BrokerSetup, chosen, topic_read_back
from benchmarks.config import CONFIGS, BenchConfig
from benchmarks.gateway_bench import run_gateway
from benchmarks.pipeline_bench import run_end_to_end, run_full_sync
from benchmarks.report import broker_table_rows, machine, render, targets_json
from benchmarks.services import REPO, BenchServices
from runtime.topics import ensure_topics

SECTIONS = ("gateway", "apply", "full-sync", "end-to-end", "acks", "growth", "scale")
# 2: results, targets and table per broker (1 had one broker, Tansu, and no broker column).
RESULT_SCHEMA = "syncpipe-benchmarks/2"
Section = Callable[[BenchServices, BenchConfig], Awaitable[dict[str, Any]]]


def _growth_of_full_sync(full_sync: dict[str, Any]) -> dict[str, Any]:
    sizes = full_sync["sizes"]
    per_department = {size: figure["applied_s"] / int(size) * 1e6 for size, figure in sizes.items()}
    return {"us_per_department": per_department}


async def run_sections(services: BenchServices, config: BenchConfig, only: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    plan: list[tuple[str, Section]] = [
        ("gateway", run_gateway),
        ("apply", run_apply),
        ("full-sync", run_full_sync),
        ("end-to-end", run_end_to_end),
        ("acks", run_acks),
    ]
    for name, section in plan:
        if name in only:
            started = time.monotonic()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            results[name.replace("-", "_")] = await section(services, config)
            timings[name] = time.monotonic() - started
    if "growth" in only:
        started = time.monotonic()
        print("[bench] growth ...", file=sys.stderr, flush=True)
        growth: dict[str, Any] = {"apply": await run_apply_growth(services, config)}
        if "full_sync" in results:
            growth["full_sync"] = _growth_of_full_sync(results["full_sync"])
        results["growth"] = growth
        timings["growth"] = time.monotonic() - started
    if "scale" in only:
        started = time.monotonic()
        print("[bench] scale ...", file=sys.stderr, flush=True)
        results["scale"] = await run_scale(services, config)
        timings["scale"] = time.monotonic() - started
    for section in results.values():
        section["broker"] = services.broker.name
    results["section_seconds"] = timings
    return results


async def read_back_topics(services: BenchServices) -> dict[str, Any]:
    """Create one pipeline's topics as every benchmark does; what the broker says they hold."""
    pipeline = await services.pipeline()
    await ensure_topics(services.topic_settings(pipeline))
    return await topic_read_back(services.kafka.bootstrap_servers, pipeline.topic)


def run_on_broker(setup: BrokerSetup, config: BenchConfig, only: list[str], keep_run_dir: bool) -> dict[str, Any]:
    """Every section chosen on one broker; its results with the broker's shape and the load meanwhile."""
    print(f"[bench] {setup.name}: {setup.description}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    clock = time.monotonic()
    session_timeout_ms = max(config.session_timeout_ms, setup.min_session_timeout_ms)
    with BenchServices({"session_timeout_ms": str(session_timeout_ms)}, broker=setup) as services:
        try:
            topics = asyncio.run(read_back_topics(services))
            results = asyncio.run(run_sections(services, config, only))
        except BaseException:
            print(f"[bench] failed; process logs kept in {services.run_dir}", file=sys.stderr)
            raise
    if keep_run_dir:
        print(f"[bench] process logs in {services.run_dir}", file=sys.stderr)
    else:
        shutil.rmtree(services.run_dir, ignore_errors=True)
    return {
        "setup": setup.as_json(),
        "topic_read_back": topics,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "elapsed_s": time.monotonic() - clock,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--broker",
        choices=["apache", "tansu", "both"],
        default="both",
        help="run every section on Apache Kafka (3 nodes, replication 3), on Tansu, or both (Apache first)",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="shorter runs, fewer events, one round")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness runs, figures mean nothing")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "latest.json")
    parser.add_argument("--keep-run-dir", action="store_true", help="keep the processes' logs even on success")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    config = CONFIGS["smoke" if args.smoke else "quick" if args.quick else "full"]

    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    clock = time.monotonic()
    runs: dict[str, dict[str, Any]] = {
        setup.name: run_on_broker(setup, config, only, args.keep_run_dir) for setup in chosen(args.broker)
    }
    results = {broker: run.pop("results") for broker, run in runs.items()}
    rows = broker_table_rows(results)

    host = {**machine(), "load_average_before": load_before, "load_average_after": os.getloadavg()}
    document: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "mode": config.mode,
        "command": shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        "started_at": started_at.isoformat(),
        "elapsed_s": time.monotonic() - clock,
        "machine": host,
        "config": config.__dict__,
        "brokers": runs,
        "results": results,
        "targets": {broker: targets_json(figures) for broker, figures in results.items()},
        "table": [list(row) for row in rows],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(render(rows))
    print()
    for broker, run in runs.items():
        topics = run["topic_read_back"]
        print(
            f"{broker}: {run['setup']['description']}; topics as read back: {topics['partitions']} partitions, "
            f"replicas {topics['replicas']}, in sync {topics['in_sync']}, "
            f"min.insync.replicas {topics['min.insync.replicas']}; "
            f"load {run['load_average_before'][0]:.2f} -> {run['load_average_after'][0]:.2f}; {run['elapsed_s']:.0f} s"
        )
    print(
        f"{host['nproc']} CPUs ({host['cpu_model']}), {host['memory_gb']} GB, Python {host['python']}; "
        f"load {load_before[0]:.2f} -> {host['load_average_after'][0]:.2f}; {document['elapsed_s']:.0f} s; "
        f"written to {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
