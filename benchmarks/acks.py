"""Acks: how soon after its event commits the platform receives an ack, and how many acks/s one acker sends.

Both measurements run `syncpipe acker` as a process of its own against the platform's ack endpoint
in another process (the simulator's `AckReceiver`: it verifies every signature as the platform does,
SPEC §2 and §6: HMAC over the canonical JSON, timestamp window, nonce never seen before), which
notes when each event's first ack arrived (Unix time, the machine's one clock).

- **Latency**: a writer commits finished events at a fixed rate, each transaction as the applier's
  (`events` rows and their acks, `record_events` + `enqueue_acks`), `_EVENTS_PER_COMMIT` at a time.
  For each event: first arrival at the receiver minus the commit of its `events` row (read afterwards
  from Postgres, `pg_xact_commit_timestamp`). Measured with the acker as configured (woken by the
  outbox's notifications) and, for comparison, as main's acker was before it listened: polling
  only, every 0.2 s (`SYNCPIPE_ACK_LISTEN=false`, `SYNCPIPE_ACK_POLL_INTERVAL_S=0.2`).
- **Throughput**: the outbox is filled with `ack_events` owed acks first, then the acker sends them
  all; acks/s = acks / (last first-arrival - first first-arrival) at the receiver, i.e. while it was
  sending, not counting its start. The CPU each process used per ack is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from benchmarks.config import BenchConfig
from benchmarks.services import BenchmarkError, BenchServices, Child, Pipeline, connected
from benchmarks.stats import latency_summary
from syncpipe.embedded.process import free_port
from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks
from workers.acks.outbox import enqueue_acks
from workers.applier.event_log import record_events
from workers.outcomes import EventStatus, FinishedEvent

# Events per writer transaction: an applier batch at 1,000 events/s holds a few to a few dozen.
_EVENTS_PER_COMMIT = 10
# Rows per statement when filling the outbox: what one applier batch writes at most.
_FILL_CHUNK = 2000
# Events committed (and acked) before the measured load: the acker's connections are open by then.
_WARMUP_EVENTS = 200


def finished_events(count: int, tag: str) -> Iterator[FinishedEvent]:
    now = datetime.now(UTC)
    for offset in range(count):
        yield FinishedEvent(
            event_id=f"{tag}-{offset}",
            tenant_id=f"tenant-{offset % 100}",
            instance_id="inst-1",
            interface="singleOrgSync",
            status=EventStatus.APPLIED,
            reason=None,
            time_stamp=now,
            test_flag=0,
            accepted_at=now,
            partition=offset % 12,
            offset=offset,
            call=None,
        )


async def _commit(connection: asyncpg.Connection, events: list[FinishedEvent]) -> None:
    """One transaction as the applier's: the events' rows, then their acks."""
    async with connection.transaction():
        await record_events(connection, events)
        await enqueue_acks(connection, events)


class _TimedReceiver(AckReceiver):
    """The simulator's receiver, noting when each event's first verified ack arrived."""

    def __init__(self, access_key: str) -> None:
        super().__init__(access_key)
        self.first_arrival: dict[str, float] = {}

    async def _receive(self, request: web.Request) -> web.Response:
        arrived = time.time()
        before = self.received
        answer = await super()._receive(request)
        if self.received > before:
            # Nothing awaits between keeping the ack and returning: the newest key is this ack's
            # event, unless the event had one already (then its first arrival is noted).
            self.first_arrival.setdefault(next(reversed(self.acks)), arrived)
        return answer


async def _serve_receiver(port: int, access_key: str) -> dict[str, Any]:
    """Serve until SIGTERM; return what was received, with the process's CPU time."""
    receiver = _TimedReceiver(access_key)
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    async with serving_acks(receiver, "127.0.0.1", port):
        await terminated.wait()
    times = os.times()
    return {
        "received": receiver.received,
        "bad_signatures": receiver.bad_signatures,
        "cpu_s": times.user + times.system,
        "first_arrival": receiver.first_arrival,
    }


class _Platform:
    """The receiver and one acker sending to it, as processes; `finish()` returns what it received."""

    def __init__(self, services: BenchServices, pipeline: Pipeline, name: str, **acker_env: str) -> None:
        self._services = services
        self._output = services.run_dir / f"{name}-received.json"
        port = free_port()
        self.receiver = services.start(
            f"{name}-receiver",
            ["-m", "benchmarks.acks", "--serve-receiver", str(port), "--output", str(self._output)],
            {"SYNCPIPE_ACCESS_KEYS": pipeline.access_key},
            port=port,
        )
        ops_port = free_port()
        env = {
            **pipeline.env,
            "SYNCPIPE_ACK_URL": f"http://127.0.0.1:{port}/platform/acks",
            "SYNCPIPE_ACKER_OPS_PORT": str(ops_port),
            **acker_env,
        }
        self.acker = services.start(f"{name}-acker", ["-m", "syncpipe", "acker"], env, port=ops_port)
        self._ready_url = f"http://127.0.0.1:{ops_port}/readyz"

    async def ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the acker answers /readyz with 200 (migrated, sending)."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self._ready_url) as answer:
                        if answer.status == 200:
                            return
                self.acker.check_alive()
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"the acker was not ready within {timeout_s:.0f} s")
                await asyncio.sleep(0.05)

    @property
    def children(self) -> list[Child]:
        return [self.receiver, self.acker]

    def finish(self) -> dict[str, Any]:
        self._services.stop(self.acker)
        self._services.stop(self.receiver)
        if not self._output.exists():
            raise BenchmarkError(f"the ack receiver wrote no result; see {self.receiver.log_path}")
        received: dict[str, Any] = json.loads(self._output.read_text())
        if received["bad_signatures"]:
            raise BenchmarkError(f"the receiver refused {received['bad_signatures']} acks")
        return received


async def _all_sent(connection: asyncpg.Connection, timeout_s: float, alive: list[Child]) -> None:
    """Poll every 20 ms until no ack is owed (the figures come from the receiver, not from this poll)."""
    deadline = time.monotonic() + timeout_s
    while owed := await connection.fetchval("SELECT count(*) FROM ack_outbox WHERE sent_at IS NULL"):
        for child in alive:
            child.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkError(f"{owed} acks still owed after {timeout_s:.0f} s")
        await asyncio.sleep(0.02)


async def _write_at_rate(connection: asyncpg.Connection, events: list[FinishedEvent], rate: float) -> float:
    """Commit `events` in transactions of `_EVENTS_PER_COMMIT`, the i-th due at start + i * size / rate.

    A writer that falls behind catches up without sleeping. Returns the achieved events/s.
    """
    started = time.monotonic()
    for index, start in enumerate(range(0, len(events), _EVENTS_PER_COMMIT)):
        due = started + index * _EVENTS_PER_COMMIT / rate
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        await _commit(connection, events[start : start + _EVENTS_PER_COMMIT])
    # The last transaction's share of the schedule, so that a writer on time reports the rate asked.
    await asyncio.sleep(max(0.0, started + len(events) / rate - time.monotonic()))
    return len(events) / (time.monotonic() - started)


async def _latency(services: BenchServices, config: BenchConfig, name: str, **acker_env: str) -> dict[str, Any]:
    pipeline = await services.pipeline()
    platform = _Platform(services, pipeline, name, **acker_env)
    tag = uuid.uuid4().hex[:8]
    warmup = list(finished_events(_WARMUP_EVENTS, f"warmup-{tag}"))
    measured = list(finished_events(int(config.ack_rate * config.ack_duration_s), f"{name}-{tag}"))
    timeout_s = 60 + 2 * config.ack_duration_s
    async with connected(pipeline.database_url) as connection:
        try:
            await platform.ready()
            await _commit(connection, warmup)
            await _all_sent(connection, timeout_s, platform.children)
            written_rate = await _write_at_rate(connection, measured, config.ack_rate)
            await _all_sent(connection, timeout_s, platform.children)
        finally:
            received = platform.finish()
        commits = {
            row["event_id"]: float(row["committed"])
            for row in await connection.fetch(
                "SELECT event_id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS committed FROM events"
                " WHERE event_id = ANY($1::text[])",
                [event.event_id for event in measured],
            )
        }
    arrivals = received["first_arrival"]
    missing = [event_id for event_id in commits if event_id not in arrivals]
    if missing or len(commits) != len(measured):
        raise BenchmarkError(f"{len(missing)} of {len(measured)} events have no ack at the receiver")
    return {
        "events": len(measured),
        "written_events_s": written_rate,
        "commit_to_received_ms": latency_summary([arrivals[event_id] - commits[event_id] for event_id in commits]),
    }


async def _throughput(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    pipeline = await services.pipeline()
    events = list(finished_events(config.ack_events, uuid.uuid4().hex[:8]))
    async with connected(pipeline.database_url) as connection:
        platform = _Platform(services, pipeline, "throughput")
        try:
            await platform.ready()
            cpu_before = platform.acker.cpu_s(), platform.receiver.cpu_s()
            # One transaction: the acker finds the whole backlog owed at once.
            async with connection.transaction():
                for start in range(0, len(events), _FILL_CHUNK):
                    await enqueue_acks(connection, events[start : start + _FILL_CHUNK])
            await _all_sent(connection, 300, platform.children)
            acker_cpu_s = platform.acker.cpu_s() - cpu_before[0]
            receiver_cpu_s = platform.receiver.cpu_s() - cpu_before[1]
        finally:
            received = platform.finish()
    arrivals = sorted(received["first_arrival"].values())
    if len(arrivals) != len(events):
        raise BenchmarkError(f"{len(arrivals)} of {len(events)} acks arrived")
    sending_s = arrivals[-1] - arrivals[0]
    return {
        "acks": len(events),
        "acks_s": (len(events) - 1) / sending_s,
        "sending_s": sending_s,
        "acker_cpu_us_per_ack": acker_cpu_s / len(events) * 1e6,
        "receiver_cpu_us_per_ack": receiver_cpu_s / len(events) * 1e6,
    }


async def run_acks(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    return {
        "rate_events_s": config.ack_rate,
        "latency": await _latency(services, config, "latency"),
        # Main's acker before it listened: no LISTEN, a look every 0.2 s.
        "latency_poll_only": await _latency(
            services, config, "poll-only", SYNCPIPE_ACK_LISTEN="false", SYNCPIPE_ACK_POLL_INTERVAL_S="0.2"
        ),
        "throughput": await _throughput(services, config),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The benchmark's ack receiver (started by `python -m benchmarks`).")
    parser.add_argument("--serve-receiver", type=int, metavar="PORT", required=True)
    parser.add_argument("--output", type=Path, required=True, help="where to write what it received, on SIGTERM")
    args = parser.parse_args()
    access_key = os.environ["SYNCPIPE_ACCESS_KEYS"].split(",")[0]
    with contextlib.suppress(KeyboardInterrupt):
        received = asyncio.run(_serve_receiver(args.serve_receiver, access_key))
        args.output.write_text(json.dumps(received))


if __name__ == "__main__":
    main()
