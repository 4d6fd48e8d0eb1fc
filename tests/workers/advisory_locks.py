"""Whether a session waits for an advisory lock another one holds (the tests of who serialises with whom)."""

from __future__ import annotations

import asyncpg


async def someone_waits_for_locks_of(connection: asyncpg.Connection, holder_pid: int) -> bool:
    """True while any session waits for one of the advisory locks the backend `holder_pid` holds."""
    waiting: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT FROM pg_locks w JOIN pg_locks h USING (locktype, database, classid, objid, objsubid)"
        " WHERE h.locktype = 'advisory' AND h.pid = $1 AND h.granted AND NOT w.granted)",
        holder_pid,
    )
    return waiting
