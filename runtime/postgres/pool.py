"""Connection pools that wait for Postgres instead of failing a process that started first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import asyncpg

from runtime.outages import is_retriable

log = logging.getLogger(__name__)

# A process may start before its database (compose, a restarted Postgres): keep trying, slowly.
_CONNECT_RETRY_S = 1.0
_CONNECT_TIMEOUT_S = 10.0


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """A release that resets nothing: for pools whose users leave no session state behind."""


# Large values (a full sync's parts and its archived call: ~8 MB of JSON for 100k departments) are
# TOASTed with lz4 when the server has it: 3-4x faster to write than the default pglz, for about the
# same size (BENCHMARKS.md). A session setting, so it holds whatever the tables were created with.
LZ4_TOAST = {"default_toast_compression": "lz4"}


async def create_pool(
    database_url: str,
    *,
    max_size: int,
    wait_s: float = 120.0,
    reset_on_release: bool = True,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """A pool of at most `max_size` connections; waits up to `wait_s` for the server to answer.

    `reset_on_release` False skips asyncpg's reset (UNLISTEN, RESET ALL, advisory unlocks: one more
    round trip at every release); only for users that run single autocommit statements and never
    LISTEN, SET or lock, so a connection is returned as it was taken.

    `server_settings` are the sessions' defaults (they survive the pool's RESET ALL). One the server
    refuses (lz4 on a server built without it) is left out with a warning: they make it faster only.
    """
    deadline = asyncio.get_running_loop().time() + wait_s
    settings = dict(server_settings or {})
    while True:
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                database_url,
                min_size=1,
                max_size=max_size,
                timeout=_CONNECT_TIMEOUT_S,
                reset=None if reset_on_release else _keep_session,
                server_settings=settings,
            )
            return pool
        except asyncpg.InvalidParameterValueError as exc:
            if not settings:
                raise
            log.warning("Postgres refused the session settings %s (%s); connecting without them", settings, exc)
            settings = {}
        except Exception as exc:
            if not is_retriable(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("Postgres not reachable yet (%r); retrying", exc)
            await asyncio.sleep(_CONNECT_RETRY_S)
