"""The read API (on a seeded Postgres) and the gateway on real ports, served by an event loop in a
thread of their own, for tests that call them from synchronous code (schemathesis sends with `requests`).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from aiohttp import web

from gateway.app import build_app
from gateway.client_secret import ClientSecretChecker
from gateway.verification import SignatureVerifier
from read_api import build_api_app
from runtime.ops_server import http_runner
from runtime.postgres.migrate import migrate_url
from runtime.settings import Settings
from syncpipe.embedded.databases import scratch_database
from tests.gateway.fakes import RecordingPublisher

# Starting means creating and migrating a database: seconds on a busy machine, never a minute.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

T = TypeVar("T")
Seed = Callable[[asyncpg.Connection], Awaitable[None]]


@dataclass(frozen=True)
class ServedApps:
    read_api_url: str
    api_token: str
    gateway_url: str
    access_key: str


class _LoopThread:
    """An event loop running in a daemon thread; coroutines are submitted to it and waited for."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="served-apps", daemon=True)

    def __enter__(self) -> _LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(STOP_TIMEOUT_S)
        self.loop.close()

    def run(self, coroutine: Awaitable[T], timeout_s: float) -> T:
        async def awaited() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(awaited(), self.loop).result(timeout_s)


@contextmanager
def served_apps(postgres_server_dsn: str, seed: Seed) -> Iterator[ServedApps]:
    """Both apps on 127.0.0.1 for the block: the read API over a new database `seed` filled, the
    gateway with the real signature check and a publisher that records instead of reaching Kafka."""
    with _LoopThread() as thread:
        stack = AsyncExitStack()
        try:
            yield thread.run(_start(stack, postgres_server_dsn, seed), START_TIMEOUT_S)
        finally:
            thread.run(stack.aclose(), STOP_TIMEOUT_S)


async def _start(stack: AsyncExitStack, postgres_server_dsn: str, seed: Seed) -> ServedApps:
    database_url = await stack.enter_async_context(scratch_database(postgres_server_dsn, "openapi"))
    await migrate_url(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await seed(connection)
    finally:
        await connection.close()
    pool = await stack.enter_async_context(asyncpg.create_pool(database_url, min_size=1, max_size=4))
    api_token = secrets.token_urlsafe(24)
    read_api_url = await _serve(stack, build_api_app(pool, api_token))
    access_key = secrets.token_urlsafe(24)
    settings = Settings(access_keys=(access_key,))  # type: ignore[arg-type]
    gateway = build_app(
        settings, RecordingPublisher(), SignatureVerifier.from_settings(settings), ClientSecretChecker(None)
    )
    gateway_url = await _serve(stack, gateway)
    return ServedApps(read_api_url, api_token, gateway_url, access_key)


async def _serve(stack: AsyncExitStack, app: web.Application) -> str:
    """`app` on 127.0.0.1 on the runner the processes use (runtime.ops_server.http_runner)."""
    runner = http_runner(app, Settings(), shutdown_timeout=1.0)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port, *_ = runner.addresses[0]
    return f"http://{host}:{port}"
