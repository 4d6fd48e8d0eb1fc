"""An acker in the test's event loop, and a look at the outbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from runtime.settings import Settings
from tests.running import running
from workers.acks.service import serve_acker


@contextlib.asynccontextmanager
async def running_acker(settings: Settings) -> AsyncIterator[None]:
    """`serve_acker` until the block ends, then stopped gracefully (what is in flight is recorded)."""
    async with running(lambda ready, stop: serve_acker(settings, ready, stop), graceful=True):
        yield


async def unsent_acks(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM ack_outbox WHERE sent_at IS NULL")
        return count
    finally:
        await connection.close()


async def wait_until_all_sent(database_url: str, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (left := await unsent_acks(database_url)) > 0:
        assert asyncio.get_running_loop().time() < deadline, f"{left} acks still unsent after {timeout_s} s"
        await asyncio.sleep(0.05)
