"""The whole pipeline in the test's event loop, as `syncpipe up` runs it: gateway, worker, acker and
read API on one metrics registry, over the session's broker and a Postgres database of their own,
with the platform's ack endpoint played by the simulator's receiver."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
from pydantic import SecretStr

from gateway.app import serve_gateway
from read_api import serve_api
from runtime.ops_server import Metrics
from runtime.postgres.migrate import migrate_url
from runtime.settings import Settings
from syncpipe.embedded.databases import scratch_database
from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks
from syncpipe.simulation.generator import PlatformCall
from syncpipe.simulation.sender import PlatformSender
from tests.read_api.free_port import free_port
from tests.running import Serve, running
from workers.acks.metrics import AckerMetrics
from workers.acks.service import serve_acker
from workers.applier.metrics import WorkerMetrics
from workers.applier.service import serve_worker


@dataclass(frozen=True)
class Pipeline:
    settings: Settings
    database_url: str
    api_url: str
    gateway_url: str
    token: str
    access_key: str
    acks: AckReceiver

    async def send(self, *calls: PlatformCall) -> list[str]:
        """POST `calls` to the gateway as the platform does; their event ids (each must be accepted)."""
        async with aiohttp.ClientSession() as session:
            sender = PlatformSender(session, self.gateway_url, self.access_key)
            answers = [await sender.send(call) for call in calls]
        assert all(answer.result_code == "000000" and answer.event_id for answer in answers), answers
        return [answer.event_id for answer in answers if answer.event_id]

    async def read(self, path: str) -> object:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.api_url}{path}", headers={"Authorization": f"Bearer {self.token}"}) as response,
        ):
            assert response.status == 200, (path, response.status, await response.text())
            return await response.json()

    async def wait_until(self, sql: str, *args: object, timeout_s: float = 30.0) -> None:
        """Poll until `sql` returns true (the pipeline is asynchronous: the gateway answers before the worker)."""
        deadline = time.monotonic() + timeout_s
        connection = await asyncpg.connect(self.database_url)
        try:
            while not await connection.fetchval(sql, *args):
                assert time.monotonic() < deadline, f"not true within {timeout_s} s: {sql} {args}"
                await asyncio.sleep(0.1)
        finally:
            await connection.close()

    async def execute(self, sql: str) -> None:
        connection = await asyncpg.connect(self.database_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()


@contextlib.asynccontextmanager
async def fresh_database(server_dsn: str) -> AsyncIterator[str]:
    async with scratch_database(server_dsn, "console") as url:
        await migrate_url(url)
        yield url


@contextlib.asynccontextmanager
async def running_pipeline(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Pipeline]:
    run = uuid.uuid4().hex[:12]
    access_key, token, ack_port = secrets.token_urlsafe(24), secrets.token_urlsafe(24), free_port()
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=SecretStr(database_url),
        events_topic=f"events-{run}",
        dead_letter_topic=f"dlq-{run}",
        consumer_group=f"workers-{run}",
        topic_partitions=4,
        access_keys=(SecretStr(access_key),),
        api_token=SecretStr(token),
        gateway_port=free_port(),
        api_port=free_port(),
        ack_url=f"http://127.0.0.1:{ack_port}/",
        # A record failing twice is dead-lettered: the retry test does not wait out five attempts.
        max_attempts=2,
        session_timeout_ms=6000,
        ack_retry_first_s=0.2,
        ack_retry_cap_s=1.0,
    )
    metrics = Metrics()
    receiver = AckReceiver(access_key)
    components: list[tuple[Serve, bool]] = [
        (lambda ready, stop: serve_api(settings, ready, metrics=metrics), False),
        (lambda ready, stop: serve_gateway(settings, ready, metrics=metrics), False),
        (lambda ready, stop: serve_worker(settings, ready, stop, metrics=WorkerMetrics(metrics)), True),
        (lambda ready, stop: serve_acker(settings, ready, stop, metrics=AckerMetrics(metrics)), True),
    ]
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serving_acks(receiver, "127.0.0.1", ack_port))
        for serve, graceful in components:
            await stack.enter_async_context(running(serve, graceful=graceful))
        yield Pipeline(
            settings=settings,
            database_url=database_url,
            api_url=f"http://127.0.0.1:{settings.api_port}",
            gateway_url=f"http://127.0.0.1:{settings.gateway_port}",
            token=token,
            access_key=access_key,
            acks=receiver,
        )
