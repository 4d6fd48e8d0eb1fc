"""Whether a session waits for an advisory lock another one holds (the tests of who serialises with whom)."""

from __future__ import annotations

import asyncio
import time

import asyncpg


async def someone_waits_for_locks_of(connection: asyncpg.Connection, holder_pid: int) -> bool:
    """True while any session waits for one of the advisory locks the backend `holder_pid` holds."""
    waiting: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT FROM pg_locks w JOIN pg_locks h USING (locktype, database, classid, objid, objsubid)"
        " WHERE h.locktype = 'advisory' AND h.pid = $1 AND h.granted AND NOT w.granted)",
        holder_pid,
    )
    return waiting


async def waits_behind(
    connection: asyncpg.Connection, holder_pid: int, writer: asyncio.Future[object], timeout_s: float = 30
) -> bool:
    """Polls until a session waits for one of `holder_pid`'s advisory locks (True), or until `writer`
    finishes or `timeout_s` passes (False: it did not queue behind the holder)."""
    deadline = time.monotonic() + timeout_s
    while not writer.done() and time.monotonic() < deadline:
        if await someone_waits_for_locks_of(connection, holder_pid):
            return True
        await asyncio.sleep(0.05)
    return False
