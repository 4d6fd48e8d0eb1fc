"""How genuine calls fare while a sender abuses the gateway: idle connections declaring huge bodies,
and large unsigned bodies the gateway must parse to refuse.

    python -m benchmarks.gateway_abuse [--idle-connections 4] [--duration 10] [--source DIR] [--output FILE]

Starts the embedded broker and `syncpipe gateway` (from `--source`, a checkout of another version,
to compare; default this one) with its default limits, then measures the latency of small signed
calls (tenantSync) from this process:
 - idle: alone, then while `--idle-connections` connections each declare a 32 MiB allOrgSync, send one
   byte and wait (one call after another);
 - large: at a steady 20 calls/s alone, then while two senders post ~31 MiB unsigned allOrgSync
   bodies back to back (well-formed signature headers, wrong signature: the body must be parsed).
Prints each phase's resultCodes and latency percentiles (ms). Figures mean something on an idle
machine only (check `uptime`); the before/after ratio is what to read on a shared one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import aiohttp

from schemas.canonical import signed_headers
from syncpipe.embedded import EmbeddedKafka
from syncpipe.embedded.process import free_port, port_open

REPO = Path(__file__).resolve().parents[1]
# The gateway's own limit for allOrgSync (SYNCPIPE_MAX_FULL_SYNC_BYTES): what an idle sender declares.
_DECLARED_BYTES = 32 * 1024 * 1024
# Departments in the large body: ~31 MiB of JSON, just under that limit.
LARGE_DEPARTMENTS = 330_000
# The steady rate of small calls in the large phase: far below the gateway's capacity.
_SMALL_CALLS_PER_S = 20
# A child importing aiohttp, pydantic and aiokafka on a busy 2-core machine can take seconds.
_START_TIMEOUT_S = 60.0

Phase = dict[str, Any]


def small_body(tenant: str) -> dict[str, Any]:
    return {
        "instanceId": "inst-1",
        "tenantId": tenant,
        "testFlag": 0,
        "timeStamp": "20260105093000123",
        "orderId": "o-1",
        "tenantCode": "acme",
        "name": "ACME",
        "flag": 1,
    }


def large_unsigned_body(department_count: int) -> bytes:
    departments = [
        {"orgCode": f"org-{n:08d}", "orgName": f"Department {n}", "parentCode": f"org-{n // 10:08d}" if n else ""}
        for n in range(department_count)
    ]
    body = {**small_body("t-abuse"), "orgInfoList": departments}
    del body["orderId"], body["tenantCode"], body["name"], body["flag"]
    return json.dumps(body).encode()


class Gateway:
    """`syncpipe gateway` in a child process on the embedded broker."""

    def __init__(self, kafka: EmbeddedKafka, source: Path, run_dir: Path) -> None:
        self.port = free_port()
        self.access_key = secrets.token_urlsafe(24)
        run = secrets.token_hex(5)
        env = {
            **os.environ,
            "PYTHONPATH": str(source),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "SYNCPIPE_ACCESS_KEYS": self.access_key,
            "SYNCPIPE_EVENTS_TOPIC": f"abuse-events-{run}",
            "SYNCPIPE_DEAD_LETTER_TOPIC": f"abuse-dlq-{run}",
            "SYNCPIPE_GATEWAY_PORT": str(self.port),
        }
        self.log_path = run_dir / "gateway.log"
        with self.log_path.open("ab") as log:
            command = [sys.executable, "-m", "syncpipe", "--log-level", "WARNING", "gateway"]
            self.process = subprocess.Popen(command, cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not start; see {self.log_path}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def small_call(session: aiohttp.ClientSession, gateway: Gateway) -> tuple[str, float]:
    """One genuine tenantSync: its resultCode and latency in seconds."""
    body = small_body(f"t-{secrets.token_hex(4)}")
    headers = signed_headers(gateway.access_key, secrets.token_hex(16), int(time.time() * 1000), body)
    started = time.perf_counter()
    async with session.post(
        f"http://127.0.0.1:{gateway.port}/produceAPI/v2/tenantSync", json=body, headers=headers
    ) as r:
        code = (await r.json())["resultCode"]
    return code, time.perf_counter() - started


def summary(results: list[tuple[str, float]]) -> Phase:
    latencies = sorted(seconds * 1000 for _, seconds in results)
    if not latencies:
        return {"calls": 0}

    def percentile(share: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(share * len(latencies)))], 1)

    return {
        "calls": len(results),
        "codes": dict(Counter(code for code, _ in results)),
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
        "max_ms": round(latencies[-1], 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
    }


@contextlib.asynccontextmanager
async def idle_connections(gateway: Gateway, count: int) -> AsyncIterator[None]:
    """`count` connections that declare a 32 MiB allOrgSync, send one byte, and wait."""
    headers = signed_headers(gateway.access_key, "idle", int(time.time() * 1000), {})
    head = f"POST /produceAPI/v2/allOrgSync HTTP/1.1\r\nHost: gateway\r\nContent-Length: {_DECLARED_BYTES}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n{"
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(head.encode())
        await writer.drain()
        writers.append(writer)
    await asyncio.sleep(0.5)  # the gateway has read their headers
    try:
        yield
    finally:
        for writer in writers:
            writer.close()


@contextlib.asynccontextmanager
async def large_senders(gateway: Gateway, body: bytes, senders: int, sent: list[float]) -> AsyncIterator[None]:
    """`senders` tasks posting `body` unsigned, back to back; each answer's latency goes to `sent`."""

    async def send_forever(session: aiohttp.ClientSession) -> None:
        while True:
            headers = {"x-sign": "0" * 64, "x-timestamp": str(int(time.time() * 1000)), "x-nonce": secrets.token_hex(8)}
            started = time.perf_counter()
            url = f"http://127.0.0.1:{gateway.port}/produceAPI/v2/allOrgSync"
            async with session.post(url, data=body, headers={**headers, "Content-Type": "application/json"}) as r:
                await r.read()
            sent.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(send_forever(session)) for _ in range(senders)]
        await asyncio.sleep(1.0)  # the first bodies are being parsed
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def one_after_another(gateway: Gateway, calls: int) -> Phase:
    async with aiohttp.ClientSession() as session:
        return summary([await small_call(session, gateway) for _ in range(calls)])


async def at_a_steady_rate(gateway: Gateway, duration_s: float) -> Phase:
    async with aiohttp.ClientSession() as session:
        calls: list[Awaitable[tuple[str, float]]] = []
        for _ in range(int(duration_s * _SMALL_CALLS_PER_S)):
            calls.append(asyncio.create_task(small_call(session, gateway)))
            await asyncio.sleep(1 / _SMALL_CALLS_PER_S)
        return summary(list(await asyncio.gather(*calls)))


async def measure(
    gateway: Gateway, idle: int, duration_s: float, idle_calls: int, departments: int
) -> dict[str, Phase]:
    phases: dict[str, Phase] = {}
    await one_after_another(gateway, 20)  # warm-up: connections, the producer's first batches
    phases["idle: alone"] = await one_after_another(gateway, idle_calls)
    async with idle_connections(gateway, idle):
        phases[f"idle: {idle} idle connections"] = await one_after_another(gateway, idle_calls)
    phases["large: alone"] = await at_a_steady_rate(gateway, duration_s)
    large: list[float] = []
    body = large_unsigned_body(departments)
    name = f"large: 2 senders of {len(body) / 2**20:.0f} MiB unsigned"
    async with large_senders(gateway, body, 2, large):
        phases[name] = await at_a_steady_rate(gateway, duration_s)
    phases[name]["large_answered"] = len(large)
    return phases


def render(phases: dict[str, Phase]) -> str:
    lines = [f"{'phase':40} | calls | codes                  |  p50 ms |  p99 ms |  max ms"]
    for name, phase in phases.items():
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(phase.get("codes", {}).items()))
        lines.append(
            f"{name:40} | {phase['calls']:5} | {codes:22} | {phase.get('p50_ms', 0):7} | "
            f"{phase.get('p99_ms', 0):7} | {phase.get('max_ms', 0):7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-connections", type=int, default=4)
    parser.add_argument("--idle-calls", type=int, default=10, help="genuine calls per idle phase (default 10)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each large phase (default 10)")
    parser.add_argument(
        "--departments", type=int, default=LARGE_DEPARTMENTS, help="of the large body (default: ~31 MiB of them)"
    )
    parser.add_argument("--source", type=Path, default=REPO, help="the syncpipe checkout the gateway runs from")
    parser.add_argument("--output", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="syncpipe-abuse-"))
    load_before = os.getloadavg()[0]
    with EmbeddedKafka(log_dir=run_dir) as kafka:
        gateway = Gateway(kafka, args.source.resolve(), run_dir)
        try:
            phases = asyncio.run(
                measure(gateway, args.idle_connections, args.duration, args.idle_calls, args.departments)
            )
        finally:
            gateway.stop()
    print(
        f"gateway from {args.source.resolve()}; load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    print(render(phases))
    if args.output:
        args.output.write_text(json.dumps(phases, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
