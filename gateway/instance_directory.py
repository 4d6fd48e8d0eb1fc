"""Where the gateway looks instances up (SPEC §9): queryInstance's answer, and whether a newInstance
finds its instance ready. The one read the gateway makes of Postgres, bounded in time: a database that
does not answer costs a queryInstance a 000005 and a newInstance a 000004, never the write path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import asyncpg

from gateway.errors import NotAnswered
from runtime.outages import is_retriable
from schemas.instance_calls import AppInfo

log = logging.getLogger(__name__)

# Lookups in flight at once: each is one indexed read, a few are plenty for the platform's polling.
POOL_MAX_SIZE = 4


class InstanceEntry(NamedTuple):
    status: str  # waiting, provisioning, ready, frozen, released
    app_info: AppInfo | None


class InstanceDirectory(Protocol):
    async def lookup(self, instance_ids: Sequence[str]) -> dict[str, InstanceEntry]:
        """The instances among `instance_ids` that have a row; NotAnswered if the database does not
        answer within the bound."""


class PostgresInstanceDirectory:
    """InstanceDirectory on a pool of the gateway's own (opened lazily: a database down at start does
    not keep the gateway from taking calls)."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s

    @classmethod
    async def open(cls, database_url: str, timeout_s: float) -> PostgresInstanceDirectory:
        # min_size=0: no connection until the first lookup; statement_timeout bounds the server's side.
        pool = await asyncpg.create_pool(
            database_url,
            min_size=0,
            max_size=POOL_MAX_SIZE,
            timeout=timeout_s,
            command_timeout=timeout_s,
            server_settings={"statement_timeout": str(int(timeout_s * 1000))},
        )
        return cls(pool, timeout_s)

    async def close(self) -> None:
        await self._pool.close()

    async def lookup(self, instance_ids: Sequence[str]) -> dict[str, InstanceEntry]:
        try:
            async with asyncio.timeout(self._timeout_s), self._pool.acquire() as connection:
                rows = await connection.fetch(
                    "SELECT instance_id, status, app_info::text AS app_info FROM instances"
                    " WHERE instance_id = ANY($1::text[])",
                    list(instance_ids),
                )
        except Exception as exc:
            # A database not migrated yet (no instances table) is one not ready to answer, like one down.
            if not (is_retriable(exc) or isinstance(exc, asyncpg.PostgresError)):
                raise
            log.warning("instance lookup failed: %r", exc)
            raise NotAnswered(f"the instance database did not answer within {self._timeout_s:g} s; try again") from None
        return {
            row["instance_id"]: InstanceEntry(
                row["status"], AppInfo.model_validate_json(row["app_info"]) if row["app_info"] else None
            )
            for row in rows
        }
