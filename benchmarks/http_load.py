"""The load generator: signed calls over raw HTTP/1.1 keep-alive sockets, in a process of its own.

    python -m benchmarks.http_load --port P --duration 5 [--rate R] --out result.json

The access key comes from SYNCPIPE_ACCESS_KEYS (its first key). Every request is built and signed
before the clock starts (a unique nonce each, timestamps taken then, well inside the 60 s window),
so during the run the generator only writes bytes and parses status lines: an asyncio Protocol per
connection, far lighter than an HTTP client library, leaving the CPU to the server under test.

Two modes:
 - saturation (no --rate): every connection sends its next request as soon as the previous one is
   answered (closed loop); the figure is answered calls per second;
 - fixed rate (--rate R): request i is due at start + i/R (open loop) and goes out on the first idle
   connection; its latency counts from when it was due, so a server that falls behind is charged for
   the queue it causes (no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.stats import latency_summary
from benchmarks.workload import department_change, run_tag
from schemas.canonical import canonical_json, sign

# Saturation runs get this many pre-built requests per second of run: above what one aiohttp
# process answers on one core, so the generator runs dry only if the server is faster than that.
_SATURATION_BUDGET_PER_S = 40_000
_ACCEPTED = b'"000000"'


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self._buffer[:head_end]).lower()
        at = head.find(b"\r\ncontent-length:")
        length = int(head[at + 17 : head.find(b"\r\n", at + 2)]) if at >= 0 else 0
        end = head_end + 4 + length
        if len(self._buffer) < end:
            return
        status = int(head[9:12])
        body = bytes(self._buffer[head_end + 4 : end])
        del self._buffer[:end]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(host: str, port: int) -> HttpConnection:
    _, protocol = await asyncio.get_running_loop().create_connection(HttpConnection, host, port)
    return protocol


def http_request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def signed_request(host: str, port: int, interface: str, body: dict[str, Any], access_key: str) -> bytes:
    """A request as the platform sends it: canonical body, fresh nonce, current time."""
    canonical = canonical_json(body)
    nonce = secrets.token_hex(16)
    timestamp = str(time.time_ns() // 1_000_000)
    headers = {"x-sign": sign(access_key, nonce, timestamp, canonical), "x-timestamp": timestamp, "x-nonce": nonce}
    return http_request(host, port, f"/produceAPI/v2/{interface}", headers, canonical.encode())


@dataclass
class LoadResult:
    mode: str
    connections: int
    planned_rate: float | None
    sent: int = 0
    accepted: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    ran_dry: bool = False
    latencies_s: list[float] = field(default_factory=list)
    # (eventId, Unix time the 000000 answer arrived), kept when asked for (end-to-end latency).
    accepted_events: list[tuple[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "connections": self.connections,
            "planned_rate": self.planned_rate,
            "sent": self.sent,
            "accepted": self.accepted,
            "codes": dict(self.codes),
            "elapsed_s": self.elapsed_s,
            "accepted_per_s": self.accepted / self.elapsed_s if self.elapsed_s else 0.0,
            "ran_dry": self.ran_dry,
            "latency_ms": latency_summary(self.latencies_s),
            "accepted_events": self.accepted_events,
        }


class LoadRun:
    def __init__(self, requests: list[bytes], result: LoadResult, *, keep_events: bool) -> None:
        self._requests = requests
        self._result = result
        self._keep_events = keep_events

    def _record(self, status: int, body: bytes, latency_s: float) -> None:
        result = self._result
        result.latencies_s.append(latency_s)
        if status == 200 and _ACCEPTED in body:
            result.accepted += 1
            result.codes["000000"] += 1
            if self._keep_events:
                result.accepted_events.append((json.loads(body)["eventId"], time.time()))
            return
        try:
            code = str(json.loads(body)["resultCode"])
        except (ValueError, KeyError, TypeError):
            code = f"http-{status}"
        result.codes[code] += 1

    async def saturate(self, connections: list[HttpConnection], duration_s: float) -> None:
        deadline = time.perf_counter() + duration_s
        next_request = iter(self._requests)

        async def closed_loop(connection: HttpConnection) -> None:
            for data in next_request:
                sent_at = time.perf_counter()
                if sent_at >= deadline:
                    return
                self._result.sent += 1
                status, body = await connection.request(data)
                self._record(status, body, time.perf_counter() - sent_at)
            self._result.ran_dry = True

        started = time.perf_counter()
        await asyncio.gather(*(closed_loop(connection) for connection in connections))
        self._result.elapsed_s = time.perf_counter() - started

    async def at_rate(self, connections: list[HttpConnection], rate: float, duration_s: float) -> None:
        total = min(len(self._requests), int(rate * duration_s))
        due: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

        async def worker(connection: HttpConnection) -> None:
            while True:
                index, due_at = await due.get()
                if index < 0:
                    return
                self._result.sent += 1
                status, body = await connection.request(self._requests[index])
                self._record(status, body, time.perf_counter() - due_at)

        workers = [asyncio.create_task(worker(connection)) for connection in connections]
        started = time.perf_counter()
        for index in range(total):
            due_at = started + index / rate
            delay = due_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due.put_nowait((index, due_at))
        for _ in workers:
            due.put_nowait((-1, 0.0))
        await asyncio.gather(*workers)
        self._result.elapsed_s = time.perf_counter() - started


async def run_load(args: argparse.Namespace, access_key: str) -> LoadResult:
    tag = run_tag()
    budget = int(args.duration * (args.rate or _SATURATION_BUDGET_PER_S)) + args.warmup
    requests = [
        signed_request(args.host, args.port, "singleOrgSync", department_change(tag, serial, args.tenants), access_key)
        for serial in range(budget)
    ]
    connections = [await connect(args.host, args.port) for _ in range(args.connections)]
    try:
        # Warm-up: the first calls pay for lazily built state (producer metadata, pools, caches).
        warm = LoadRun(requests[: args.warmup], LoadResult("warmup", args.connections, None), keep_events=False)
        await warm.saturate(connections, duration_s=60.0)
        mode = "saturation" if args.rate is None else "fixed-rate"
        result = LoadResult(mode, args.connections, args.rate)
        run = LoadRun(requests[args.warmup :], result, keep_events=args.keep_events)
        if args.rate is None:
            await run.saturate(connections, args.duration)
        else:
            await run.at_rate(connections, args.rate, args.duration)
        return result
    finally:
        for connection in connections:
            connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of measured load")
    parser.add_argument("--rate", type=float, help="calls per second (open loop); omit for saturation")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=500, help="calls sent before measuring")
    parser.add_argument("--keep-events", action="store_true", help="record each accepted eventId and when")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    access_key = os.environ["SYNCPIPE_ACCESS_KEYS"].split(",")[0]
    result = asyncio.run(run_load(args, access_key))
    with contextlib.suppress(FileNotFoundError):
        args.out.unlink()
    args.out.write_text(json.dumps(result.summary()))


if __name__ == "__main__":
    main()
