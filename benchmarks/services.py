"""What the benchmarks run on: an embedded broker (Apache Kafka or Tansu, in the shape of
benchmarks/brokers.py), a durable Postgres, and the processes under test.

Postgres is `EmbeddedPostgres(durable=True)` (fsync and synchronous commit on, as in production)
with `track_commit_timestamp` turned on, so the moment each `events` row was committed can be read
afterwards (`pg_xact_commit_timestamp(xmin)`) instead of polled for while the worker runs.

Every process under test (gateway, worker, baselines, load generator) is a child process started
with its configuration in environment variables, as in a deployment; its output goes to a log file
in the run directory, which is kept when a run fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from benchmarks.brokers import SETUPS, BrokerSetup
from runtime.postgres.migrate import migrate_url
from runtime.settings import Settings
from runtime.topics import PRODUCER_BATCH_BYTES
from schemas.envelope import KafkaRecord
from syncpipe.embedded import EmbeddedPostgres
from syncpipe.embedded.databases import create_database
from syncpipe.embedded.process import free_port, port_open

REPO = Path(__file__).resolve().parents[1]
# A child that imports aiohttp, pydantic and aiokafka on a busy 2-core machine can take seconds.
_START_TIMEOUT_S = 60.0
# A child asked to stop that is still there after this is killed.
_STOP_TIMEOUT_S = 20.0
# Records per produce request when filling a topic: large batches, few round trips, and no larger
# than the gateway's, which every topic accepts (runtime.topics.max_message_bytes).
_FILL_BATCH_BYTES = PRODUCER_BATCH_BYTES


class BenchmarkError(RuntimeError):
    """A benchmark could not run as planned (a process died, a result never came)."""


@dataclass(frozen=True)
class Pipeline:
    """One isolated pipeline on the shared services: its own topics, consumer group and database."""

    env: dict[str, str]
    database_url: str
    topic: str
    access_key: str


class Child:
    """A process under test."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchmarkError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def reset_peak_rss(self) -> None:
        """Start counting the peak resident set size from now (Linux: clear_refs 5 resets VmHWM)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_rss_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def cpu_s(self) -> float:
        """User plus system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise BenchmarkError(f"no {field} for process {pid}")


class BenchServices:
    """The broker and Postgres for one benchmark run, and the children started on them."""

    def __init__(
        self,
        settings: Mapping[str, str] | None = None,
        run_dir: Path | None = None,
        broker: BrokerSetup = SETUPS["tansu"],
    ) -> None:
        self.broker = broker
        # Every topic of the run gets the broker shape's replication (min.insync.replicas follows it).
        self._settings = {"topic_replication_factor": str(broker.replication_factor), **(settings or {})}
        self.run_dir = run_dir or Path(tempfile.mkdtemp(prefix=f"syncpipe-bench-{broker.name}-"))
        self._stack = contextlib.ExitStack()
        self.kafka = broker.start_broker(self.run_dir)
        self.postgres = EmbeddedPostgres(durable=True)
        self._children: list[Child] = []

    def __enter__(self) -> BenchServices:
        self._stack.enter_context(self.kafka)
        self._stack.enter_context(self.postgres)
        asyncio.run(self._track_commit_timestamps())
        self.postgres.restart()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for child in reversed(self._children):
            child.stop()
        self._stack.close()

    async def _track_commit_timestamps(self) -> None:
        connection = await asyncpg.connect(self.postgres.dsn)
        try:
            await connection.execute("ALTER SYSTEM SET track_commit_timestamp = on")
        finally:
            await connection.close()

    async def pipeline(self, **settings: str) -> Pipeline:
        """A fresh, migrated database and topic names; `settings` are extra SYNCPIPE_* values."""
        run = uuid.uuid4().hex[:10]
        database_url = await create_database(self.postgres.dsn, "bench")
        await migrate_url(database_url)
        access_key = secrets.token_urlsafe(24)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "DATABASE_URL": database_url,
            "SYNCPIPE_ACCESS_KEYS": access_key,
            "SYNCPIPE_EVENTS_TOPIC": f"bench-events-{run}",
            "SYNCPIPE_DEAD_LETTER_TOPIC": f"bench-dlq-{run}",
            "SYNCPIPE_CONSUMER_GROUP": f"bench-workers-{run}",
            "SYNCPIPE_GATEWAY_PORT": str(free_port()),
            # Its own ops port (/metrics), so nothing else on the machine is in the way.
            "SYNCPIPE_WORKER_OPS_PORT": str(free_port()),
            **{f"SYNCPIPE_{key.upper()}": value for key, value in {**self._settings, **settings}.items()},
        }
        return Pipeline(env, database_url, env["SYNCPIPE_EVENTS_TOPIC"], access_key)

    def topic_settings(self, pipeline: Pipeline) -> Settings:
        """What `ensure_topics` needs to create the pipeline's topics as its processes would."""
        return Settings(
            kafka_bootstrap_servers=self.kafka.bootstrap_servers,
            events_topic=pipeline.topic,
            dead_letter_topic=pipeline.env["SYNCPIPE_DEAD_LETTER_TOPIC"],
            topic_replication_factor=self.broker.replication_factor,
        )

    def start(self, name: str, args: Sequence[str], env: Mapping[str, str], *, port: int | None = None) -> Child:
        """Start `python args...` from the repository root; wait for `port` to listen if given."""
        log_path = self.run_dir / f"{name}-{len(self._children)}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        child = Child(name, process, log_path)
        self._children.append(child)
        if port is not None:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not port_open(port):
                child.check_alive()
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"{name} did not listen on {port} within {_START_TIMEOUT_S:.0f} s")
                time.sleep(0.05)
        return child

    def stop(self, child: Child) -> None:
        child.stop()
        self._children.remove(child)


async def fill_topic(bootstrap_servers: str, topic: str, records: Sequence[KafkaRecord]) -> None:
    """Produce `records` (acks=all) as fast as the client goes; return once all are acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=20,
        max_batch_size=_FILL_BATCH_BYTES,
        max_request_size=4 * _FILL_BATCH_BYTES,
    )
    await producer.start()
    try:
        deliveries = [
            await producer.send(topic, value=record.value, key=record.key, headers=record.headers) for record in records
        ]
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def wait_for_rows(
    connection: asyncpg.Connection, query: str, count: int, timeout_s: float, *, alive: Sequence[Child] = ()
) -> None:
    """Poll `query` (a count) every 50 ms until it reaches `count`."""
    deadline = time.monotonic() + timeout_s
    while (found := await connection.fetchval(query)) < count:
        for child in alive:
            child.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkError(f"{found} of {count} rows after {timeout_s:.0f} s: {query}")
        await asyncio.sleep(0.05)


async def last_commit_unix(connection: asyncpg.Connection, table: str) -> float:
    """When the last transaction that wrote `table` committed (Unix seconds)."""
    value = await connection.fetchval(f"SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM {table}")
    return float(value)
