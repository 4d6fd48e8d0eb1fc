"""Readiness probes of the dependencies: is Postgres answering, is the broker answering.

Each probe returns True or raises (or returns False); `runtime.ops_server.Readiness` bounds it in
time and caches it.
A probe owns at most one connection, opened on first use and again after a failure, so probing
costs the dependency one idle connection per process, not one per probe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka.client import AIOKafkaClient

Probe = Callable[[], Awaitable[bool]]

# A probe silent this long has failed: /readyz answers within about a second, whatever hangs.
PROBE_TIMEOUT_S = 1.0


def pool_probe(pool: asyncpg.Pool) -> Probe:
    """Postgres through a pool the process already has (the read API's)."""

    async def probe() -> bool:
        async with pool.acquire(timeout=PROBE_TIMEOUT_S) as connection:
            await connection.fetchval("SELECT 1")
        return True

    return probe


class PostgresProbe:
    """Postgres at `dsn`, over a connection of its own. `close()` when done."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None

    async def __call__(self) -> bool:
        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self._dsn, timeout=PROBE_TIMEOUT_S)
            await self._connection.fetchval("SELECT 1")
        except BaseException:
            await self.close()
            raise
        return True

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.terminate()  # never waits on a server that may be gone


class KafkaProbe:
    """The broker at `bootstrap_servers`: its cluster metadata, over a client of its own. `close()` when done."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client: AIOKafkaClient | None = None

    async def __call__(self) -> bool:
        if self._client is None:
            client = AIOKafkaClient(
                bootstrap_servers=self._bootstrap_servers, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000)
            )
            try:
                await client.bootstrap()
            except BaseException:
                await client.close()
                raise
            self._client = client
            return True
        await self._client.fetch_all_metadata()
        return True

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
