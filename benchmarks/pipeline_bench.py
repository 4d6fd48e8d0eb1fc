"""The whole pipeline, gateway and worker as processes: full syncs of growing size, and end-to-end
latency of incremental calls at a steady rate.

Full sync: one signed `allOrgSync` at a time, from the first byte sent to the commit of its
`events` row (the gateway splits it into Kafka-sized parts, the worker assembles and applies them),
with the peak resident memory of the worker (and of the gateway) while it happened; and, as its
ceiling, a bare binary `COPY` of the same department rows into an empty table of the same shape
(`LIKE departments INCLUDING ALL`: its columns and primary key), one transaction, timed to its commit.

End to end: calls at a fixed rate over many tenants; for each accepted call, the time from the
gateway's `000000` answer to the commit of its `events` row with status `applied` (commit times
from Postgres, answer times from the load generator, one clock).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import asyncpg

from benchmarks.config import BenchConfig
from benchmarks.gateway_bench import run_load
from benchmarks.http_load import connect, signed_request
from benchmarks.services import BenchmarkError, BenchServices, Child, Pipeline, connected, wait_for_rows
from benchmarks.stats import latency_summary
from benchmarks.workload import full_snapshot, run_tag
from schemas.timestamps import parse_platform_time

_PROGRESS = "SELECT coalesce(max(ack_id), 0) FROM ack_outbox"


async def _start_pipeline(services: BenchServices) -> tuple[Pipeline, Child, Child, int]:
    pipeline = await services.pipeline()
    port = int(pipeline.env["SYNCPIPE_GATEWAY_PORT"])
    gateway = services.start("gateway", ["-m", "syncpipe", "gateway"], pipeline.env, port=port)
    worker = services.start("worker", ["-m", "syncpipe", "worker"], pipeline.env)
    return pipeline, gateway, worker, port


async def _commit_of(
    connection: asyncpg.Connection, event_id: str, alive: list[Child], timeout_s: float = 300.0
) -> tuple[float, str]:
    """Wait for the event's row; return (Unix time it committed, its status)."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = await connection.fetchrow(
            "SELECT status, extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS committed"
            " FROM events WHERE event_id = $1",
            event_id,
        )
        if row is not None:
            return float(row["committed"]), row["status"]
        for child in alive:
            child.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkError(f"event {event_id} not applied within {timeout_s:.0f} s")
        await asyncio.sleep(0.01)


async def _send_full_sync(port: int, access_key: str, departments: int) -> tuple[float, float, str, int]:
    """POST one allOrgSync; return (sent at, answered at, eventId, body bytes)."""
    data = signed_request("127.0.0.1", port, "allOrgSync", full_snapshot(run_tag(), departments), access_key)
    connection = await connect("127.0.0.1", port)
    try:
        sent_at = time.time()
        status, answer = await connection.request(data)
        answered_at = time.time()
    finally:
        connection.close()
    decoded = json.loads(answer)
    if decoded.get("resultCode") != "000000":
        raise BenchmarkError(f"allOrgSync of {departments} departments refused: {status} {decoded}")
    return sent_at, answered_at, decoded["eventId"], len(data)


async def run_full_sync(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    pipeline, gateway, worker, port = await _start_pipeline(services)
    sizes: dict[str, Any] = {}
    try:
        async with connected(pipeline.database_url) as connection:
            # Warm-up: the worker joins its group and both processes run the full-sync path once.
            _, _, warm_id, _ = await _send_full_sync(port, pipeline.access_key, 100)
            await _commit_of(connection, warm_id, [worker])
            for departments in config.full_sync_sizes:
                worker.reset_peak_rss()
                gateway.reset_peak_rss()
                rss_before = worker.rss_mb()
                sent_at, answered_at, event_id, size = await _send_full_sync(port, pipeline.access_key, departments)
                committed_at, status = await _commit_of(connection, event_id, [worker, gateway])
                copy_s = await _bare_copy_s(connection, departments)
                sizes[str(departments)] = {
                    "departments": departments,
                    "body_mb": size / 1e6,
                    "accepted_s": answered_at - sent_at,
                    "applied_s": committed_at - sent_at,
                    "bare_copy_s": copy_s,
                    "status": status,
                    "worker_rss_before_mb": rss_before,
                    "worker_peak_rss_mb": worker.peak_rss_mb(),
                    "gateway_peak_rss_mb": gateway.peak_rss_mb(),
                }
    finally:
        services.stop(worker)
        services.stop(gateway)
    return {"sizes": sizes}


async def _bare_copy_s(connection: asyncpg.Connection, departments: int) -> float:
    """Seconds to COPY the department rows of a `departments` snapshot into an empty table shaped like
    `departments` and commit; the rows are built before the clock starts."""
    body = full_snapshot(run_tag(), departments)
    version = parse_platform_time(body["timeStamp"])
    rows = [
        (body["tenantId"], org["orgCode"], version, False, org["orgName"], org["parentCode"])
        for org in body["orgInfoList"]
    ]
    table = f"bare_departments_{departments}"
    await connection.execute(f"CREATE TABLE {table} (LIKE departments INCLUDING ALL)")
    started = time.perf_counter()
    async with connection.transaction():
        await connection.copy_records_to_table(
            table, records=rows, columns=["tenant_id", "org_code", "version", "deleted", "org_name", "parent_code"]
        )
    return time.perf_counter() - started


async def run_end_to_end(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    pipeline, gateway, worker, port = await _start_pipeline(services)
    rate = config.end_to_end_rate
    try:
        async with connected(pipeline.database_url) as connection:
            warm = await run_load(services, pipeline, port, "e2e-warmup", config, rate=rate, duration_s=1.0)
            await wait_for_rows(
                connection, _PROGRESS, warm["accepted"] + config.gateway_warmup_calls, 120, alive=[worker]
            )
            load = await run_load(
                services,
                pipeline,
                port,
                "e2e",
                config,
                rate=rate,
                duration_s=config.end_to_end_duration_s,
                keep_events=True,
                warmup_calls=0,
            )
            answered = dict(load["accepted_events"])
            expected = warm["accepted"] + config.gateway_warmup_calls + len(answered)
            await wait_for_rows(connection, _PROGRESS, expected, 120, alive=[worker])
            rows = await connection.fetch(
                "SELECT event_id, status, extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS committed"
                " FROM events WHERE event_id = ANY($1::text[])",
                list(answered),
            )
    finally:
        services.stop(worker)
        services.stop(gateway)
    latencies = [float(row["committed"]) - answered[row["event_id"]] for row in rows]
    return {
        "rate_calls_s": rate,
        "achieved_calls_s": load["accepted_per_s"],
        "tenants": config.tenants,
        "calls": len(answered),
        "statuses": dict(Counter(row["status"] for row in rows)),
        "gateway_latency_ms": load["latency_ms"],
        "accepted_to_applied_ms": latency_summary(latencies),
        "codes": load["codes"],
    }
