"""Ack throughput: how many acks per second one acker delivers to a local platform endpoint.

    .venv/bin/python benchmarks/acks.py [--acks 20000] [--in-flight 64] [--database-url URL]

Fills a fresh database's outbox with `--acks` rows (as the applier writes them, set-based), then
runs one `serve_acker` against a receiver in a separate process that verifies every signature
(the simulator's `AckReceiver`), and prints acks/s from the acker's start until the outbox is empty.
Without --database-url (or DATABASE_URL) an embedded, durable Postgres is started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
from pydantic import SecretStr

from runtime.postgres.migrate import migrate_url
from runtime.settings import Settings
from syncpipe.embedded import EmbeddedPostgres
from syncpipe.embedded.databases import create_database
from syncpipe.embedded.process import free_port
from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks
from workers.acks.outbox import enqueue_acks
from workers.acks.service import serve_acker
from workers.outcomes import EventStatus, FinishedEvent

ACCESS_KEY = "benchmark-access-key"
# Rows per enqueue statement: what one applier batch writes at most (Settings.batch_max_records).
ENQUEUE_CHUNK = 2000


def finished_events(count: int) -> Iterator[FinishedEvent]:
    now = datetime.now(UTC)
    for offset in range(count):
        yield FinishedEvent(
            event_id=uuid.uuid4().hex,
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


async def fill_outbox(database_url: str, count: int) -> float:
    """Write `count` acks; return the seconds it took."""
    events = list(finished_events(count))
    connection = await asyncpg.connect(database_url)
    started = time.monotonic()
    try:
        for start in range(0, count, ENQUEUE_CHUNK):
            async with connection.transaction():
                await enqueue_acks(connection, events[start : start + ENQUEUE_CHUNK])
    finally:
        await connection.close()
    return time.monotonic() - started


async def measure(database_url: str, ack_url: str, count: int, in_flight: int) -> float:
    """Run one acker until the outbox is empty; return the seconds from its start."""
    settings = Settings(
        database_url=SecretStr(database_url),
        ack_url=ack_url,
        access_keys=(SecretStr(ACCESS_KEY),),
        ack_max_in_flight=in_flight,
    )
    ready, stop = asyncio.Event(), asyncio.Event()
    acker = asyncio.create_task(serve_acker(settings, ready, stop))
    await ready.wait()
    started = time.monotonic()
    connection = await asyncpg.connect(database_url)
    try:
        while True:
            if not await connection.fetchval("SELECT EXISTS (SELECT FROM ack_outbox WHERE sent_at IS NULL)"):
                break
            # Poll finely next to the run's length, so the figure is not the poll's.
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        sent = await connection.fetchval("SELECT count(*) FROM ack_outbox WHERE sent_at IS NOT NULL")
    finally:
        await connection.close()
    stop.set()
    await acker
    assert sent == count, f"{sent} of {count} acks marked sent"
    return elapsed


async def receive_until_terminated(port: int) -> None:
    receiver = AckReceiver(ACCESS_KEY)
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    async with serving_acks(receiver, "127.0.0.1", port):
        await terminated.wait()
    print(f"receiver: {receiver.received} acks verified, {receiver.bad_signatures} refused")


@contextlib.contextmanager
def receiver_process(port: int) -> Iterator[str]:
    """The receiver in a process of its own, so verifying acks does not share the acker's CPU."""
    process = subprocess.Popen([sys.executable, __file__, "--serve-receiver", str(port)])
    try:
        deadline = time.monotonic() + 30  # it imports aiohttp first: slow on a cold machine
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/platform/acks"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def run(server_dsn: str, count: int, in_flight: int) -> None:
    database_url = await create_database(server_dsn, "bench_acks")
    await migrate_url(database_url)
    fill_s = await fill_outbox(database_url, count)
    print(f"outbox filled: {count} acks in {fill_s:.2f} s ({count / fill_s:,.0f} acks/s enqueued)")
    with receiver_process(free_port()) as ack_url:
        elapsed = await measure(database_url, ack_url, count, in_flight)
    print(f"sent: {count} acks in {elapsed:.2f} s = {count / elapsed:,.0f} acks/s ({in_flight} in flight)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--acks", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=Settings.model_fields["ack_max_in_flight"].default)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--serve-receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(receive_until_terminated(args.serve_receiver))
        return
    if args.database_url:
        asyncio.run(run(args.database_url, args.acks, args.in_flight))
        return
    with EmbeddedPostgres() as postgres:
        asyncio.run(run(postgres.dsn, args.acks, args.in_flight))


if __name__ == "__main__":
    main()
