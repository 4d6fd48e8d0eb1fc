"""The pipeline as separate processes, for the fault-injection suite.

The broker (`tests.faults.brokers`: the embedded Tansu of one scenario, or a three-node Apache Kafka
shared by a module's scenarios) and Postgres (`EmbeddedPostgres`, durable: a SIGKILLed server
restarts on its own data and port) run from the test process. Every syncpipe component is the real
command, `python -m syncpipe gateway|worker|api|acker`, configured only through its environment,
with its output in a log file of its own, and killed by the kernel if the test process dies. Each
pipeline has topics and a consumer group of its own, so scenarios can share a broker.

Faults are what an operator meets: a process SIGKILLed or sent SIGTERM, the whole Postgres server
crashing (every one of its processes SIGKILLed at once) and coming back, a broker hanging (SIGSTOP)
and resuming (SIGCONT), and on the three-node cluster brokers crashing (SIGKILL) and restarting on
their data, or stopped one after another. Tansu is never restarted: it keeps everything in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import aiohttp
import asyncpg

from syncpipe.embedded import EmbeddedPostgres
from syncpipe.embedded.process import free_port, spawn, tail
from tests.faults.brokers import FaultBroker

# Python start plus migrations, topic setup and a first connection; generous for a loaded 2-core box.
_START_TIMEOUT_S = 30.0
_POLL_S = 0.05
# A component asked to stop at the end of a scenario has this long before it is killed.
_STOP_TIMEOUT_S = 5.0

B = TypeVar("B", bound=FaultBroker)


@dataclass(frozen=True)
class PipelineTuning:
    """Settings that keep a fault scenario short; every one is an ordinary syncpipe variable."""

    partitions: int = 6
    # A SIGKILLed worker's partitions move after this (Kafka needs the silence to tell it is dead).
    session_timeout_ms: int = 6000
    batch_max_records: int = 200
    max_attempts: int = 3
    # The gateway answers 000005 this fast when the broker does not acknowledge.
    produce_timeout_s: float = 2.0
    # A recovered Postgres or broker is noticed within this long.
    retry_backoff_cap_s: float = 0.5

    def environment(self) -> dict[str, str]:
        return {
            "SYNCPIPE_TOPIC_PARTITIONS": str(self.partitions),
            "SYNCPIPE_SESSION_TIMEOUT_MS": str(self.session_timeout_ms),
            "SYNCPIPE_BATCH_MAX_RECORDS": str(self.batch_max_records),
            "SYNCPIPE_MAX_ATTEMPTS": str(self.max_attempts),
            "SYNCPIPE_PRODUCE_TIMEOUT_S": str(self.produce_timeout_s),
            "SYNCPIPE_RETRY_BACKOFF_CAP_S": str(self.retry_backoff_cap_s),
            "SYNCPIPE_ACK_TIMEOUT_S": "2",
            "SYNCPIPE_ACK_RETRY_FIRST_S": "0.05",
            "SYNCPIPE_ACK_RETRY_CAP_S": "0.5",
            # Several workers share one host here: none of them serves the operations port.
            "SYNCPIPE_WORKER_OPS_PORT": "0",
            "SYNCPIPE_ACKER_OPS_PORT": "0",
        }


class SyncpipeProcess:
    """One `python -m syncpipe <command>`: started, signalled and started again, on one log file."""

    def __init__(self, name: str, command: str, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.command = command
        self._env = dict(env)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._process = spawn([sys.executable, "-m", "syncpipe", self.command], self.log_path, env=self._env)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash, an OOM kill, a pulled plug)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    async def terminate(self, timeout_s: float) -> tuple[int | None, float]:
        """SIGTERM, then wait up to `timeout_s`: (exit code or None if still running, seconds taken)."""
        assert self._process is not None, f"{self.name} was never started"
        started = time.monotonic()
        self._process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self._process.wait, timeout_s)
        return self._process.poll(), time.monotonic() - started

    def output(self) -> str:
        """What this run of the process logged so far (since its last start)."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    async def wait_for_output(self, text: str, timeout_s: float = _START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            if not self.running:
                raise AssertionError(f"{self.name} exited ({self.returncode}) before logging {text!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not log {text!r} within {timeout_s:g} s:\n{self.tail()}")
            await asyncio.sleep(_POLL_S)

    @property
    def returncode(self) -> int | None:
        return self._process.poll() if self._process else None

    def tail(self, lines: int = 25) -> str:
        return tail(self.log_path, lines)

    def begin_stop(self) -> None:
        """SIGTERM, for what is left at the end of a test (`finish_stop` waits)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def finish_stop(self, deadline: float) -> None:
        """Wait for the stop begun until `deadline` (monotonic), then SIGKILL."""
        if self._process is not None and self._process.poll() is None:
            try:
                self._process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                self.kill()


class Cluster(Generic[B]):
    """A broker, a Postgres server and syncpipe's processes, each of which can be started, killed or paused.

    `start()` brings up the services, the gateway, the read API, the acker (sending to `ack_url`,
    signed with `access_key`, which the gateway also accepts) and workers; `close()` stops
    everything and removes the Postgres data. `broker` is the scenario's (`tests.faults.brokers`),
    and its faults are the broker's own methods.
    """

    def __init__(
        self, workdir: Path, access_key: str, ack_url: str, broker: B, tuning: PipelineTuning | None = None
    ) -> None:
        self.workdir = workdir
        self.tuning = tuning or PipelineTuning()
        self.access_key = access_key
        self.api_token = secrets.token_urlsafe(24)
        self.broker = broker
        run = secrets.token_hex(4)
        self.events_topic = f"syncpipe.events.{run}"
        self.dead_letter_topic = f"syncpipe.events.dlq.{run}"
        self.consumer_group = f"syncpipe-workers-{run}"
        # Durable: synchronous_commit stays on, so a transaction a worker saw commit survives a crash.
        self.postgres = EmbeddedPostgres(durable=True)
        self._ack_url = ack_url
        self._gateway_port = free_port()
        self._api_port = free_port()
        self.gateway: SyncpipeProcess | None = None
        self.api: SyncpipeProcess | None = None
        self.acker: SyncpipeProcess | None = None
        self.workers: list[SyncpipeProcess] = []
        self._workers_started = 0

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self._gateway_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._api_port}"

    @property
    def dsn(self) -> str:
        return self.postgres.dsn

    def environment(self) -> dict[str, str]:
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("SYNCPIPE_") and name not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
        }
        return (
            inherited
            | self.tuning.environment()
            | self.broker.topic_environment()
            | {
                "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
                "SYNCPIPE_EVENTS_TOPIC": self.events_topic,
                "SYNCPIPE_DEAD_LETTER_TOPIC": self.dead_letter_topic,
                "SYNCPIPE_CONSUMER_GROUP": self.consumer_group,
                "DATABASE_URL": self.postgres.dsn,
                "SYNCPIPE_ACCESS_KEYS": self.access_key,
                "SYNCPIPE_API_TOKEN": self.api_token,
                "SYNCPIPE_GATEWAY_PORT": str(self._gateway_port),
                "SYNCPIPE_API_PORT": str(self._api_port),
                "SYNCPIPE_ACK_URL": self._ack_url,
            }
        )

    async def start(self, workers: int) -> None:
        await self.broker.start()
        await asyncio.to_thread(self.postgres.start)
        self.gateway = self._process("gateway", "gateway")
        self.api = self._process("api", "api")
        self.acker = self._process("acker", "acker")
        for component in (self.gateway, self.api, self.acker):
            component.start()
        # All at once: a Python start takes seconds on a loaded machine. The gateway and the workers
        # race to create the topics and the migrations lock against each other (both harmless).
        await asyncio.gather(
            self._wait_healthy(self.gateway, f"{self.gateway_url}/healthz"),
            self._wait_healthy(self.api, f"{self.api_url}/healthz"),
            self.acker.wait_for_output("acker sending"),
            *(self.start_worker() for _ in range(workers)),
        )

    async def start_worker(self) -> SyncpipeProcess:
        """A new worker process (a new group member); returns once it consumes."""
        self._workers_started += 1
        name = f"worker-{self._workers_started}"
        # Its Postgres connections carry its name, so a test can see which worker is in a transaction.
        worker = self._process(name, "worker", {"DATABASE_URL": f"{self.dsn}?application_name={name}"})
        self.workers.append(worker)
        worker.start()
        await worker.wait_for_output("worker consuming")
        return worker

    async def restart(self, component: SyncpipeProcess, ready_line: str) -> None:
        component.start()
        await component.wait_for_output(ready_line)

    def running_workers(self) -> list[SyncpipeProcess]:
        return [worker for worker in self.workers if worker.running]

    async def worker_in_transaction(self, timeout_s: float = 30.0) -> SyncpipeProcess:
        """A worker caught with a batch transaction open (Postgres names each worker's connections)."""
        names = {worker.name: worker for worker in self.running_workers()}
        deadline = time.monotonic() + timeout_s
        connection = await asyncpg.connect(self.dsn)
        try:
            while time.monotonic() < deadline:
                name = await connection.fetchval(
                    "SELECT application_name FROM pg_stat_activity"
                    " WHERE application_name = ANY($1::text[]) AND xact_start IS NOT NULL LIMIT 1",
                    list(names),
                )
                if name is not None and names[name].running:
                    return names[name]
                await asyncio.sleep(0.005)
        finally:
            await connection.close()
        raise AssertionError(f"no worker had a transaction open within {timeout_s:g} s:\n{self.logs()}")

    def crash_postgres(self) -> None:
        """SIGKILL every process of the Postgres server at once, as when its machine or container dies."""
        pid = self.postgres.pid
        assert pid is not None, "Postgres is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.postgres.kill()  # reaps the postmaster

    async def restart_postgres(self) -> None:
        """Start Postgres again on the same data and port (crash recovery replays its WAL)."""
        await asyncio.to_thread(self.postgres.restart)

    def processes(self) -> list[SyncpipeProcess]:
        return [p for p in (self.gateway, self.api, self.acker) if p is not None] + self.workers

    def logs(self, lines: int = 20) -> str:
        """The tail of every process's log, for a failing test's message."""
        return "\n".join(f"--- {process.name} ---\n{process.tail(lines)}" for process in self.processes())

    async def close(self) -> None:
        """Stop every process at once (each one's stop waits for the broker or Postgres, not for the
        others), then the broker and Postgres."""
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for process in self.processes():
            process.begin_stop()
        for process in self.processes():
            await asyncio.to_thread(process.finish_stop, deadline)
        await self.broker.stop()
        await asyncio.to_thread(self.postgres.stop)

    def _process(self, name: str, command: str, env: Mapping[str, str] | None = None) -> SyncpipeProcess:
        return SyncpipeProcess(name, command, self.environment() | dict(env or {}), self.workdir / f"{name}.log")

    async def _wait_healthy(self, component: SyncpipeProcess, url: str) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        async with aiohttp.ClientSession() as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                        if response.status == 200:
                            return
                if not component.running:
                    raise AssertionError(f"{component.name} exited ({component.returncode}):\n{component.tail()}")
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{component.name} not healthy within {_START_TIMEOUT_S:g} s:\n{component.tail()}"
                    )
                await asyncio.sleep(_POLL_S * 4)
